using Federated.Attacks;

namespace Federated.Core.Tests.Attacks;

public class StatisticalAttackTests
{
    [Theory]
    [InlineData(10, 2, 0.253)]
    [InlineData(20, 4, 0.385)]
    [InlineData(25, 5, 0.468)]
    [InlineData(50, 10, 0.468)]
    public void Alie_z_max_matches_the_published_values(int n, int f, double z)
    {
        Assert.Equal(z, AlieAttack.ZMax(n, f), 1e-3);
    }

    [Theory]
    [InlineData(0.5, 0.0)]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.01, -2.326347874040841)]
    [InlineData(0.999, 3.090232306167814)]
    public void Standard_normal_quantiles_match_reference_values_in_the_centre_and_the_tails(double p, double expected)
    {
        Assert.Equal(expected, StandardNormal.InverseCdf(p), 1e-8);
    }

    [Fact]
    public void Alie_rejects_attackers_who_would_need_no_honest_supporters()
    {
        var e = Assert.Throws<ArgumentException>(() => AlieAttack.ZMax(10, 6));
        Assert.Contains("floor(n/2 + 1) - f", e.Message);
    }

    [Fact]
    public void Alie_at_full_rank_uploads_the_honest_mean_minus_z_sample_stds()
    {
        using var updates = new ClusteredUpdates(seed: 20);
        using var crafted = new AlieAttack().Craft(updates.Context(10, 2, rank: ClusteredUpdates.FullRank));

        using var scope = NewDisposeScope();
        var honest = updates.Stack();
        var expected = honest.mean([0]) - AlieAttack.ZMax(10, 2) * ClusteredUpdates.SampleStd(honest);
        TensorAssert.Close(DeltaFactorization.Flatten(crafted), expected, 1e-5);
    }

    [Theory]
    [InlineData(IpmAttack.DefaultEpsilon)]
    [InlineData(2.0)]
    public void Ipm_at_full_rank_uploads_minus_epsilon_times_the_honest_mean(double epsilon)
    {
        using var updates = new ClusteredUpdates(seed: 21);
        using var crafted = new IpmAttack(epsilon).Craft(updates.Context(rank: ClusteredUpdates.FullRank));

        using var scope = NewDisposeScope();
        TensorAssert.Close(DeltaFactorization.Flatten(crafted), -epsilon * updates.Stack().mean([0]), 1e-5);
    }

    [Fact]
    public void Gaussian_at_full_rank_has_the_requested_per_coordinate_std_and_zero_mean()
    {
        using var updates = new ClusteredUpdates(seed: 22);
        using var crafted = new GaussianAttack(sigma: 0.003).Craft(updates.Context(rank: ClusteredUpdates.FullRank));

        using var scope = NewDisposeScope();
        var flat = DeltaFactorization.Flatten(crafted);
        Assert.Equal(1, flat.std().item<double>() / 0.003, 0.03);
        Assert.True(Math.Abs(flat.mean().item<double>()) < 0.1 * 0.003);
    }

    [Fact]
    public void Gaussian_defaults_to_the_honest_updates_mean_coordinate_std_and_repeats_with_the_seed()
    {
        using var updates = new ClusteredUpdates(seed: 23);
        var attack = new GaussianAttack();
        using var scope = NewDisposeScope();
        var first = attack.CraftDelta(updates.Context());
        var second = attack.CraftDelta(updates.Context());

        double honestStd = ClusteredUpdates.SampleStd(updates.Stack()).mean().item<double>();
        Assert.Equal(1, first.std().item<double>() / honestStd, 0.03);
        Assert.True(first.eq(second).all().item<bool>());
    }

    [Fact]
    public void Delta_space_attacks_below_full_rank_upload_the_best_rank_r_approximation_at_the_attackers_alpha()
    {
        using var updates = new ClusteredUpdates(seed: 24);
        var context = updates.Context(rank: 2, alpha: 5);
        var attack = new AlieAttack();
        using var crafted = attack.Craft(context);
        using var scope = NewDisposeScope();
        var target = attack.CraftDelta(context);

        long offset = 0;
        foreach (var m in updates.Own.Modules)
        {
            var c = crafted[m.Name];
            Assert.Equal((2, 5.0, 2.5), (c.Rank, c.Alpha, c.Scale));
            var block = target.narrow(0, offset, m.OutFeatures * m.InFeatures).reshape(m.OutFeatures, m.InFeatures);
            offset += m.OutFeatures * m.InFeatures;
            var (u, s, vh) = linalg.svd(block, fullMatrices: false);
            TensorAssert.Close(c.DenseDelta(float64), (u.narrow(1, 0, 2) * s.narrow(0, 0, 2)).matmul(vh.narrow(0, 0, 2)), 1e-5);
        }
    }
}
