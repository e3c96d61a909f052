using Federated.Core.Adapters;
using Federated.Attacks;

namespace Federated.Core.Tests.Attacks;

public class FactorSpaceAttackTests
{
    static void AssertDeltasAre(double factor, LoraAdapter crafted, LoraAdapter own)
    {
        foreach (var m in own.Modules)
        {
            using var scope = NewDisposeScope();
            TensorAssert.Close(crafted[m.Name].DenseDelta(float64), factor * m.DenseDelta(float64), 1e-5);
        }
    }

    [Fact]
    public void Sign_flip_uploads_minus_the_own_update_by_negating_b()
    {
        using var updates = new ClusteredUpdates(seed: 10);
        using var crafted = new SignFlipAttack().Craft(updates.Context());

        AssertDeltasAre(-1, crafted, updates.Own);
        Assert.All(updates.Own.Modules, m => Assert.True(crafted[m.Name].A.eq(m.A).all().item<bool>()));
    }

    [Theory]
    [InlineData(null, -10.0)]
    [InlineData(3.0, 3.0)]
    public void Scaled_uploads_the_factor_times_the_own_update(double? factor, double expected)
    {
        using var updates = new ClusteredUpdates(seed: 11);
        var attack = factor is null ? new ScaledAttack() : new ScaledAttack(factor.Value);
        using var crafted = attack.Craft(updates.Context());
        AssertDeltasAre(expected, crafted, updates.Own);
    }

    [Fact]
    public void Factor_rescaling_keeps_every_delta_while_dividing_a_and_multiplying_b_by_c()
    {
        using var updates = new ClusteredUpdates(seed: 12);
        using var crafted = new FactorRescalingAttack().Craft(updates.Context());

        AssertDeltasAre(1, crafted, updates.Own);
        foreach (var m in updates.Own.Modules)
        {
            using var scope = NewDisposeScope();
            TensorAssert.Close(crafted[m.Name].A, m.A / 100, 1e-6);
            TensorAssert.Close(crafted[m.Name].B, m.B * 100, 1e-6);
        }
    }

    [Fact]
    public void Single_factor_flip_negates_the_delta_like_sign_flip_but_through_a()
    {
        using var updates = new ClusteredUpdates(seed: 13);
        using var crafted = new SingleFactorFlipAttack().Craft(updates.Context());
        using var signFlipped = new SignFlipAttack().Craft(updates.Context());

        AssertDeltasAre(-1, crafted, updates.Own);
        foreach (var m in updates.Own.Modules)
        {
            using var scope = NewDisposeScope();
            Assert.True(crafted[m.Name].A.eq(-m.A).all().item<bool>());
            Assert.True(crafted[m.Name].B.eq(m.B).all().item<bool>());
            Assert.False(crafted[m.Name].B.eq(signFlipped[m.Name].B).all().item<bool>());
        }
    }

    [Theory]
    [InlineData("sign-flip")]
    [InlineData("scaled")]
    [InlineData("factor-rescaling")]
    [InlineData("single-factor-flip")]
    public void Factor_space_attacks_keep_the_own_ranks_and_alphas_in_float32_and_leave_the_own_update_alone(string name)
    {
        using var updates = new ClusteredUpdates(seed: 14, dtype: ScalarType.BFloat16);
        var before = updates.Own.Modules.Select(m => (A: m.A.clone(), B: m.B.clone())).ToList();
        using var crafted = ByzantineAttacks.Create(name).Craft(updates.Context(rank: 6, alpha: 3));

        Assert.Equal(ScalarType.Float32, crafted.DType);
        Assert.Equal(ClusteredUpdates.BaseModel, crafted.BaseModel);
        Assert.All(updates.Own.Modules, m => Assert.Equal((m.Rank, m.Alpha), (crafted[m.Name].Rank, crafted[m.Name].Alpha)));
        for (int i = 0; i < before.Count; i++)
        {
            Assert.True(updates.Own.Modules[i].A.eq(before[i].A).all().item<bool>());
            Assert.True(updates.Own.Modules[i].B.eq(before[i].B).all().item<bool>());
        }
    }
}
