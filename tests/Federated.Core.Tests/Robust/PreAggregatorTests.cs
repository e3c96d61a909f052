using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

public sealed class PreAggregatorTests : IDisposable
{
    readonly List<LoraAdapter> _updates = DenseUpdates.Honest([4, 8, 2, 4, 8, 16, 4], noise: 0.6, seed: 31);
    readonly double[] _p = ClientWeights.FromExampleCounts([100, 300, 50, 200, 120, 80, 90]);

    public void Dispose()
    {
        foreach (var u in _updates) u.Dispose();
    }

    public static TheoryData<string> PreAggregators() => ["bucketing", "nnm"];

    [Theory]
    [MemberData(nameof(PreAggregators))]
    public void Mixing_in_coefficient_space_equals_the_rule_on_explicitly_mixed_updates(string name)
    {
        IPreAggregator pre = name == "bucketing" ? new Bucketing(2, seed: 4) : new NearestNeighbourMixing(f: 2);
        var rule = new GeometricMedian();
        var gram = UpdateGram.Compute(_updates, ScalarType.Float64);

        // The mixtures as real adapters: y_a = sum_i M[a, i] x_i, stacked exactly.
        var (mixing, mixedWeights) = pre.Mix(gram, _p);
        var mixed = Enumerable.Range(0, mixing.GetLength(0)).Select(a =>
            new FloraStacking().Aggregate(_updates, Enumerable.Range(0, _updates.Count).Select(i => mixing[a, i]).ToArray())).ToList();
        var gammaMixed = rule.Weigh(UpdateGram.Compute(mixed, ScalarType.Float64), mixedWeights);
        using var expected = DenseUpdates.Combine(DenseUpdates.Flatten(mixed), gammaMixed);

        using var actual = DenseUpdates.Combine(DenseUpdates.Flatten(_updates), new PreAggregatedRule(pre, rule).Weigh(gram, _p));
        TensorAssert.Close(actual, expected, 1e-6);
        foreach (var m in mixed) m.Dispose();
    }

    [Theory]
    [InlineData("krum", "bucketing", 1)]
    [InlineData("multi-krum", "bucketing", 1)]
    [InlineData("krum", "nnm", 1)]
    [InlineData("multi-krum", "nnm", 0)]
    public void The_minimum_client_count_behind_a_pre_aggregator_is_exactly_what_the_rule_can_take(string rule, string pre, int f)
    {
        int minimum = RobustRules.MinimumClients(rule, f, pre);
        var updates = DenseUpdates.Honest(Enumerable.Repeat(4, minimum).ToArray(), noise: 0.5, seed: 5);
        try
        {
            var combined = RobustRules.WithPreAggregator(pre, RobustRules.Create(rule, f), f, seed: 2);
            double[] Weigh(int n) => combined.Weigh(UpdateGram.Compute(updates.Take(n).ToList()), Enumerable.Repeat(1.0 / n, n).ToArray());

            Assert.Equal(1.0, Weigh(minimum).Sum(), 9);
            Assert.Throws<RobustRuleException>(() => Weigh(minimum - 1));
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
        }
    }

    [Fact]
    public void Bucketing_puts_every_update_in_exactly_one_bucket_of_at_most_the_size()
    {
        var gram = UpdateGram.Compute(_updates);
        var (mixing, weights) = new Bucketing(3, seed: 1).Mix(gram, _p);
        Assert.Equal(3, mixing.GetLength(0)); // ceil(7 / 3)
        for (int i = 0; i < _updates.Count; i++)
            Assert.Equal(1, Enumerable.Range(0, 3).Count(b => mixing[b, i] > 0));
        for (int b = 0; b < 3; b++)
        {
            Assert.InRange(Enumerable.Range(0, _updates.Count).Count(i => mixing[b, i] > 0), 1, 3);
            Assert.Equal(1.0, Enumerable.Range(0, _updates.Count).Sum(i => mixing[b, i]), 12);
        }
        Assert.Equal(1.0, weights.Sum(), 12);
    }

    [Fact]
    public void Nnm_averages_each_update_with_its_n_minus_f_nearest_including_itself()
    {
        using var x = DenseUpdates.Flatten(_updates);
        var (mixing, _) = new NearestNeighbourMixing(f: 3).Mix(UpdateGram.Compute(_updates, ScalarType.Float64), _p);
        int n = _updates.Count;
        for (int i = 0; i < n; i++)
        {
            var nearest = Enumerable.Range(0, n).OrderBy(j => (x[i] - x[j]).norm().item<double>()).Take(n - 3).ToHashSet();
            Assert.Contains(i, nearest);
            for (int j = 0; j < n; j++) Assert.Equal(nearest.Contains(j) ? 1.0 / (n - 3) : 0.0, mixing[i, j], 12);
        }
    }
}
