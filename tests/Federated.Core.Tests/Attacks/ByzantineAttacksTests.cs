using Federated.Attacks;
using Federated.Core.Adapters;

namespace Federated.Core.Tests.Attacks;

public class ByzantineAttacksTests
{
    public static TheoryData<string> Names() => new(ByzantineAttacks.Names);

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_listed_attack_is_created_under_its_name_and_crafts_an_adapter_with_the_own_layout(string name)
    {
        var attack = ByzantineAttacks.Create(name);
        Assert.Equal(name, attack.Name);

        using var updates = new ClusteredUpdates(seed: 40);
        using var crafted = attack.Craft(updates.Context(rank: 6, alpha: 3));
        Assert.Equal(updates.Own.Modules.Select(m => m.Name), crafted.Modules.Select(m => m.Name));
        Assert.Equal(ClusteredUpdates.BaseModel, crafted.BaseModel);
        Assert.Equal(ScalarType.Float32, crafted.DType);
        int expectedRank = attack is DeltaSpaceAttack ? 6 : updates.Own.PredominantRank;
        Assert.All(crafted.Modules, m => Assert.Equal(expectedRank, m.Rank));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void An_attack_that_says_it_reads_only_its_own_updates_layout_crafts_the_same_bits_from_another_update_of_that_layout(string name)
    {
        var attack = ByzantineAttacks.Create(name);
        using var updates = new ClusteredUpdates(seed: 41);
        // Another update of the same modules and base model, at another rank and with other values; rank and alpha given.
        using var stranger = RandomAdapters.Create(ClusteredUpdates.Shapes, rank: 7, alpha: 5, seed: 99, baseModel: ClusteredUpdates.BaseModel);

        using var own = attack.Craft(updates.Context(rank: 4, alpha: 8));
        using var other = attack.Craft(new AttackContext(stranger, updates.Honest, 10, 2, seed: 7, rank: 4, alpha: 8));

        static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
        bool same = own.Modules.All(m => Same(m.A, other[m.Name].A) && Same(m.B, other[m.Name].B) && m.Alpha == other[m.Name].Alpha);
        Assert.Equal(!attack.ReadsOwnUpdate, same);
    }

    [Fact]
    public void An_unknown_name_is_rejected_with_the_known_names()
    {
        var e = Assert.Throws<ArgumentException>(() => ByzantineAttacks.Create("label-flip"));
        Assert.Contains("unknown attack 'label-flip'", e.Message);
        Assert.All(ByzantineAttacks.Names, name => Assert.Contains(name, e.Message));
    }

    [Fact]
    public void Strength_sets_the_parameter_of_attacks_that_have_one_and_is_rejected_by_the_others()
    {
        Assert.Equal(-3, Assert.IsType<ScaledAttack>(ByzantineAttacks.Create("scaled", -3)).Factor);
        Assert.Equal(2, Assert.IsType<IpmAttack>(ByzantineAttacks.Create("ipm", 2)).Epsilon);
        Assert.Equal(0.5, Assert.IsType<GaussianAttack>(ByzantineAttacks.Create("gaussian", 0.5)).Sigma);
        Assert.Equal(7, Assert.IsType<FactorRescalingAttack>(ByzantineAttacks.Create("factor-rescaling", 7)).Factor);
        var e = Assert.Throws<ArgumentException>(() => ByzantineAttacks.Create("alie", 1));
        Assert.Contains("no strength", e.Message);
    }
}

public class CraftAllTests
{
    public static TheoryData<string> Names() => new(ByzantineAttacks.Names);

    [Theory]
    [MemberData(nameof(Names))]
    public void Crafting_a_rounds_attackers_together_equals_crafting_each_alone_bit_for_bit(string name)
    {
        using var updates = new ClusteredUpdates(seed: 41);
        var attack = ByzantineAttacks.Create(name);
        // Three attackers of one round at different ranks and alphas (one at full rank), seeds differing as in the simulator,
        // and a fourth that observed a different honest list.
        var contexts = new List<AttackContext>
        {
            new(updates.Honest[0], updates.Honest, 10, 3, seed: 1, rank: 2, alpha: 4),
            new(updates.Honest[1], updates.Honest, 10, 3, seed: 2, rank: ClusteredUpdates.FullRank, alpha: 8),
            new(updates.Honest[2], updates.Honest, 10, 3, seed: 3, rank: 2, alpha: 16),
            new(updates.Honest[3], updates.Honest.Take(5).ToList(), 10, 3, seed: 4, rank: 6, alpha: 4),
        };
        var together = attack.CraftAll(contexts);
        try
        {
            Assert.Equal(contexts.Count, together.Count);
            for (int i = 0; i < contexts.Count; i++)
            {
                using var alone = attack.Craft(contexts[i]);
                Assert.Equal(alone.Modules.Select(m => (m.Name, m.Rank, m.Alpha)), together[i].Modules.Select(m => (m.Name, m.Rank, m.Alpha)));
                foreach (var m in alone.Modules)
                {
                    Assert.Equal(m.A.data<float>().ToArray(), together[i][m.Name].A.data<float>().ToArray());
                    Assert.Equal(m.B.data<float>().ToArray(), together[i][m.Name].B.data<float>().ToArray());
                }
            }
        }
        finally
        {
            foreach (var upload in together) upload.Dispose();
        }
    }

    [Fact]
    public void A_seeded_attack_crafts_different_uploads_for_different_seeds()
    {
        using var updates = new ClusteredUpdates(seed: 42);
        var uploads = new GaussianAttack().CraftAll([
            new AttackContext(updates.Honest[0], updates.Honest, 10, 2, seed: 1),
            new AttackContext(updates.Honest[1], updates.Honest, 10, 2, seed: 2)]);
        try { Assert.NotEqual(uploads[0].Modules[0].B.data<float>().ToArray(), uploads[1].Modules[0].B.data<float>().ToArray()); }
        finally { foreach (var u in uploads) u.Dispose(); }
    }
}
