using Federated.Attacks;

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
