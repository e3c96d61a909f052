using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Attacks;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

/// <summary>Each rule against a direct implementation on flattened dense dW vectors.</summary>
public sealed class RobustRuleTests : IDisposable
{
    readonly List<LoraAdapter> _updates;
    readonly Tensor _x;
    readonly UpdateGram _gram;
    readonly double[] _p;

    public RobustRuleTests()
    {
        _updates = DenseUpdates.Honest([4, 8, 2, 4, 8, 16, 4], noise: 0.6, seed: 5);
        _updates.Add(DenseUpdates.Reversed(_updates[1], 10));
        _updates.Add(DenseUpdates.Reversed(_updates[3], 1));
        _x = DenseUpdates.Flatten(_updates);
        _gram = UpdateGram.Compute(_updates, ScalarType.Float64);
        _p = ClientWeights.FromExampleCounts([100, 300, 50, 200, 120, 80, 90, 150, 60]);
    }

    public void Dispose()
    {
        foreach (var u in _updates) u.Dispose();
        _x.Dispose();
    }

    int N => _updates.Count;
    double Distance(int i, Tensor z) => (_x[i] - z).norm().item<double>();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Krum_matches_dense_scores_over_n_minus_f_minus_2_nearest_neighbours(int f)
    {
        var dense = Enumerable.Range(0, N).Select(i => Enumerable.Range(0, N).Where(j => j != i)
            .Select(j => (_x[i] - _x[j]).pow(2).sum().item<double>()).Order().Take(N - f - 2).Sum()).ToArray();
        var scores = Krum.Scores(_gram, f);
        for (int i = 0; i < N; i++) Assert.Equal(dense[i], scores[i], 1e-6 * dense.Max());

        var krum = Krum.Single(f).Weigh(_gram, _p);
        int chosen = Array.IndexOf(dense, dense.Min());
        Assert.Equal(1.0, krum[chosen]);
        Assert.Equal(1.0, krum.Sum(), 12);

        var multi = Krum.Multi(f).Weigh(_gram, _p);
        var kept = Enumerable.Range(0, N).OrderBy(i => dense[i]).Take(N - f).ToHashSet();
        double total = kept.Sum(i => _p[i]);
        for (int i = 0; i < N; i++) Assert.Equal(kept.Contains(i) ? _p[i] / total : 0.0, multi[i], 12);
    }

    [Fact]
    public void Krum_convention_is_pinned_to_n_minus_f_minus_2_squared_distances()
    {
        // Points on a line at 0, 1, 2, 10, 11 with n = 5, f = 1: two neighbours each.
        // Squared n-f-2: scores 0:1+4=5, 1:1+1=2, 2:1+4=5, 3:1+64=65, 4:1+81=82 -> 1 chosen.
        // With n-f-1 = 3 neighbours unsquared the scores would be 0:13, 1:10, 2:10 (tie), a different rule.
        double[] points = [0, 1, 2, 10, 11];
        var g = new double[5, 5];
        for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) g[i, j] = points[i] * points[j];
        var gram = new UpdateGram(g);
        Assert.Equal([5, 2, 5, 65, 82], Krum.Scores(gram, 1).Select(s => Math.Round(s, 9)));
        Assert.Equal(1.0, Krum.Single(1).Weigh(gram, ClientWeights.Equal(5))[1]);
    }

    [Fact]
    public void Krum_refuses_fewer_than_2f_plus_3_updates()
    {
        var e = Assert.Throws<RobustRuleException>(() => Krum.Single(4).Weigh(_gram, _p)); // n = 9 < 11
        Assert.Contains("n >= 2f + 3", e.Message);
    }

    [Fact]
    public void Geometric_median_matches_dense_weiszfeld()
    {
        using var z = DenseUpdates.Combine(_x, _p);
        var iterate = z.clone();
        for (int it = 0; it < 100; it++)
        {
            var beta = Enumerable.Range(0, N).Select(i => _p[i] / Math.Max(1e-6, Distance(i, iterate))).ToArray();
            var next = DenseUpdates.Combine(_x, beta.Select(b => b / beta.Sum()).ToArray());
            iterate.Dispose();
            iterate = next;
        }
        using var expected = iterate;
        using var actual = DenseUpdates.Combine(_x, new GeometricMedian().Weigh(_gram, _p));
        TensorAssert.Close(actual, expected, 1e-6);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0.5)]
    public void Centered_clipping_matches_dense_iterations(double? tau)
    {
        var v = zeros(_x.shape[1], float64);
        for (int it = 0; it < 3; it++)
        {
            var d = Enumerable.Range(0, N).Select(i => Distance(i, v)).ToArray();
            double radius = tau ?? d.Order().ElementAt(N / 2); // N is odd: the middle value
            var step = zeros_like(v);
            for (int i = 0; i < N; i++) step += (_x[i] - v) * (_p[i] * Math.Min(1, radius / d[i]));
            v = v + step;
        }
        using var expected = v;
        using var actual = DenseUpdates.Combine(_x, new CenteredClipping(tau).Weigh(_gram, _p));
        TensorAssert.Close(actual, expected, 1e-6);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0.3)]
    public void Norm_bound_matches_dense_clipped_mean(double? tau)
    {
        var norms = Enumerable.Range(0, N).Select(i => _x[i].norm().item<double>()).ToArray();
        double bound = tau ?? norms.Order().ElementAt(N / 2);
        using var expected = DenseUpdates.Combine(_x, norms.Select((n, i) => _p[i] * Math.Min(1, bound / n)).ToArray());
        using var actual = DenseUpdates.Combine(_x, new NormBound(tau).Weigh(_gram, _p));
        TensorAssert.Close(actual, expected, 1e-9);
    }

    [Fact]
    public void Rescaling_one_client_factors_changes_no_rule_output()
    {
        // The factor-rescaling attack, (cB, A/c), leaves dW unchanged: rules that work in dW space must not notice.
        var rescaled = _updates.Select((u, k) => k != 2 ? u : ByzantineAttacks.Create("factor-rescaling", 1000)
            .Craft(new AttackContext(u, _updates, clientCount: N, attackerCount: 1))).ToList();
        using var root = DenseUpdates.Honest([4], noise: 0.1, seed: 5)[0];
        foreach (var name in RobustRules.Names)
        {
            var rule = RobustRules.Create(name, f: 2, rootUpdate: root);
            List<LoraAdapter> With(List<LoraAdapter> updates) => rule is IReferenceRule r ? [.. updates, r.Reference] : updates;
            var before = rule.Weigh(UpdateGram.Compute(With(_updates), ScalarType.Float64), _p);
            var after = rule.Weigh(UpdateGram.Compute(With(rescaled), ScalarType.Float64), _p);
            for (int i = 0; i < N; i++) Assert.Equal(before[i], after[i], 6);
        }
        rescaled[2].Dispose();
    }
}
