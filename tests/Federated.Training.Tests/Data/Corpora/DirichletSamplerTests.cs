using Federated.Training.Data.Corpora;

namespace Federated.Training.Tests.Data.Corpora;

public class DirichletSamplerTests
{
    [Theory]
    [InlineData(0.2)]
    [InlineData(1.0)]
    [InlineData(3.5)]
    [InlineData(20.0)]
    public void Gamma_draws_have_the_mean_and_variance_of_their_shape(double shape)
    {
        var random = new Random(11);
        var draws = Enumerable.Range(0, 40_000).Select(_ => DirichletSampler.Gamma(random, shape)).ToArray();
        var mean = draws.Average();
        var variance = draws.Sum(x => (x - mean) * (x - mean)) / (draws.Length - 1);

        // Gamma(k, 1): mean k, variance k. Standard error of the mean sqrt(k / n); the tolerances are ~5 of them.
        Assert.InRange(mean, shape * 0.95 - 0.01, shape * 1.05 + 0.01);
        Assert.InRange(variance, shape * 0.88, shape * 1.12);
        Assert.All(draws, x => Assert.True(x >= 0 && double.IsFinite(x)));
    }

    [Fact]
    public void Dirichlet_draws_sum_to_one_and_average_to_the_normalised_concentrations()
    {
        var random = new Random(5);
        double[] concentrations = [0.5, 1.0, 2.5];
        var sums = new double[3];
        const int draws = 20_000;
        for (var i = 0; i < draws; i++)
        {
            var q = DirichletSampler.Sample(random, concentrations);
            Assert.Equal(1.0, q.Sum(), 1e-12);
            for (var d = 0; d < 3; d++)
                sums[d] += q[d];
        }

        Assert.Equal(0.125, sums[0] / draws, 0.01);
        Assert.Equal(0.25, sums[1] / draws, 0.01);
        Assert.Equal(0.625, sums[2] / draws, 0.01);
    }

    [Fact]
    public void Tiny_concentrations_where_every_gamma_draw_underflows_still_give_a_proper_mix()
    {
        var q = DirichletSampler.Sample(new Random(3), Enumerable.Repeat(1e-3, 45).ToArray());

        Assert.Equal(1.0, q.Sum(), 1e-12);
        Assert.All(q, x => Assert.True(double.IsFinite(x) && x >= 0));
        Assert.True(q.Max() > 0.5, "most mass on one component");
    }

    [Fact]
    public void The_same_seed_gives_the_same_draws()
    {
        double[] concentrations = [0.3, 0.3, 0.3, 0.3];

        Assert.Equal(DirichletSampler.Sample(new Random(9), concentrations), DirichletSampler.Sample(new Random(9), concentrations));
        Assert.NotEqual(DirichletSampler.Sample(new Random(9), concentrations), DirichletSampler.Sample(new Random(10), concentrations));
    }

    [Fact]
    public void A_shape_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DirichletSampler.Gamma(new Random(1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DirichletSampler.Gamma(new Random(1), double.NaN));
    }
}
