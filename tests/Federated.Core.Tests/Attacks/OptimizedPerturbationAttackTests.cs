using Federated.Attacks;

namespace Federated.Core.Tests.Attacks;

public class OptimizedPerturbationAttackTests
{
    /// <summary>Squared distances from x to each row of the honest stack, and between the rows.</summary>
    static (double[] ToHonest, double[,] Pairwise) Distances(Tensor x, Tensor honest)
    {
        using var scope = NewDisposeScope();
        int n = (int)honest.shape[0];
        var toHonest = (honest - x).pow(2).sum([1]).data<double>().ToArray();
        var pairwise = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                pairwise[i, j] = (honest[i] - honest[j]).pow(2).sum().item<double>();
        return (toHonest, pairwise);
    }

    static bool MinMaxHolds(Tensor x, Tensor honest, double slack = 0)
    {
        var (toHonest, pairwise) = Distances(x, honest);
        return toHonest.Max() <= pairwise.Cast<double>().Max() * (1 + slack);
    }

    static bool MinSumHolds(Tensor x, Tensor honest, double slack = 0)
    {
        var (toHonest, pairwise) = Distances(x, honest);
        int n = toHonest.Length;
        double bound = Enumerable.Range(0, n).Min(i => Enumerable.Range(0, n).Sum(j => pairwise[i, j]));
        return toHonest.Sum() <= bound * (1 + slack);
    }

    static Tensor Deviation(PerturbationDirection direction, Tensor honest)
    {
        using var scope = NewDisposeScope();
        var mu = honest.mean([0]);
        var deviation = direction switch
        {
            PerturbationDirection.StandardDeviation => ClusteredUpdates.SampleStd(honest),
            PerturbationDirection.UnitVector => mu / mu.norm(),
            _ => mu.sign(),
        };
        return deviation.MoveToOuterDisposeScope();
    }

    public static TheoryData<string, PerturbationDirection> Cases()
    {
        var cases = new TheoryData<string, PerturbationDirection>();
        foreach (var name in new[] { "min-max", "min-sum" })
            foreach (var direction in Enum.GetValues<PerturbationDirection>())
                cases.Add(name, direction);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_found_gamma_satisfies_the_rule_at_full_rank_and_a_slightly_larger_one_violates_it(string name, PerturbationDirection direction)
    {
        OptimizedPerturbationAttack attack = name == "min-max" ? new MinMaxAttack(direction) : new MinSumAttack(direction);
        Func<Tensor, Tensor, double, bool> holds = name == "min-max" ? MinMaxHolds : MinSumHolds;
        using var updates = new ClusteredUpdates(seed: 30);
        var context = updates.Context(rank: ClusteredUpdates.FullRank);
        double gamma = attack.Gamma(context);
        using var crafted = attack.Craft(context);

        using var scope = NewDisposeScope();
        var honest = updates.Stack();
        var mu = honest.mean([0]);
        var deviation = Deviation(direction, honest);
        var uploaded = DeltaFactorization.Flatten(crafted);
        Assert.InRange(gamma, 1e-3 * OptimizedPerturbationAttack.GammaPrecision, 2 * OptimizedPerturbationAttack.InitialGamma - 1);
        TensorAssert.Close(uploaded, mu - gamma * deviation, 1e-5);
        // The upload is float32, so the bound gets float32-sized slack; the bisection leaves gamma within
        // a few GammaPrecision of the boundary, so a step of 1% (at least 10 GammaPrecision) crosses it.
        Assert.True(holds(uploaded, honest, 1e-5), $"{name} violated at gamma {gamma}");
        double larger = gamma + Math.Max(0.01 * gamma, 10 * OptimizedPerturbationAttack.GammaPrecision);
        Assert.False(holds(mu - larger * deviation, honest, 0), $"{name} still holds at gamma {larger}");
    }

    [Fact]
    public void Min_sum_is_more_cautious_than_min_max()
    {
        using var updates = new ClusteredUpdates(seed: 31);
        var context = updates.Context();
        Assert.True(new MinSumAttack().Gamma(context) < new MinMaxAttack().Gamma(context));
    }
}
