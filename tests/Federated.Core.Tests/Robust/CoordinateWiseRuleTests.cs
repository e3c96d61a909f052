using Federated.Core.Adapters;
using Federated.Attacks;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

/// <summary>The coordinate-wise rules against plain per-coordinate loops over the flattened dense deltas.</summary>
public sealed class CoordinateWiseRuleTests : IDisposable
{
    readonly List<LoraAdapter> _updates;
    readonly double[][] _x;

    public CoordinateWiseRuleTests()
    {
        _updates = DenseUpdates.Honest([4, 8, 2, 4, 8, 16, 4, 2, 8, 4], noise: 0.6, seed: 51);
        _updates.Add(DenseUpdates.Reversed(_updates[0], 10));
        using var x = DenseUpdates.Flatten(_updates);
        _x = Enumerable.Range(0, _updates.Count).Select(i => x[i].data<double>().ToArray()).ToArray();
    }

    public void Dispose()
    {
        foreach (var u in _updates) u.Dispose();
    }

    int D => _x[0].Length;

    double[] Column(int d, IEnumerable<int>? rows = null) => (rows ?? Enumerable.Range(0, _x.Length)).Select(i => _x[i][d]).ToArray();

    void AssertGlobalIs(LoraAdapter global, Func<int, double> expectedAt)
    {
        using var actual = DenseUpdates.Flatten([global])[0];
        using var expected = tensor(Enumerable.Range(0, D).Select(expectedAt).ToArray(), float64);
        TensorAssert.Close(actual, expected, 1e-5);
    }

    [Fact]
    public void Median_is_the_lower_middle_value_per_coordinate()
    {
        var (global, used) = new CoordinateMedian().Aggregate(_updates);
        AssertGlobalIs(global, d => Column(d).Order().ElementAt((_x.Length - 1) / 2));
        Assert.All(used, Assert.True);
        global.Dispose();
    }

    [Fact]
    public void Median_of_an_even_count_takes_the_lower_of_the_two_middles_like_torch()
    {
        var even = _updates.Take(4).ToList();
        var (global, _) = new CoordinateMedian().Aggregate(even);
        AssertGlobalIs(global, d => Column(d, Enumerable.Range(0, 4)).Order().ElementAt(1));
        global.Dispose();
    }

    [Fact]
    public void Trimmed_mean_drops_b_largest_and_b_smallest_per_coordinate()
    {
        var (global, _) = new TrimmedMean(2).Aggregate(_updates);
        AssertGlobalIs(global, d => Column(d).Order().Skip(2).Take(_x.Length - 4).Average());
        global.Dispose();
    }

    [Fact]
    public void Bulyan_selects_by_repeated_krum_then_averages_the_values_closest_to_the_median()
    {
        const int f = 2;
        // Selection: theta = n - 2f rounds of Krum over what remains, neighbours n' - f - 2 (at least one).
        double Sq(int i, int j) => _x[i].Zip(_x[j], (a, b) => (a - b) * (a - b)).Sum();
        var remaining = Enumerable.Range(0, _x.Length).ToList();
        var selected = new List<int>();
        while (selected.Count < _x.Length - 2 * f)
        {
            int k = Math.Max(1, remaining.Count - f - 2);
            int best = remaining.OrderBy(i => remaining.Where(j => j != i).Select(j => Sq(i, j)).Order().Take(k).Sum()).ThenBy(i => i).First();
            selected.Add(best);
            remaining.Remove(best);
        }
        int beta = selected.Count - 2 * f;

        var (global, used) = new Bulyan(f).Aggregate(_updates);
        Assert.Equal(selected.Order(), Enumerable.Range(0, _x.Length).Where(i => used[i]));
        Assert.False(used[^1]); // the scaled reversal is never chosen
        AssertGlobalIs(global, d =>
        {
            var values = Column(d, selected.Order());
            double median = values.Order().ElementAt((values.Length - 1) / 2);
            return values.OrderBy(v => Math.Abs(v - median)).Take(beta).Average();
        });
        global.Dispose();
    }

    [Fact]
    public void Bulyan_refuses_fewer_than_4f_plus_3_updates()
    {
        var e = Assert.Throws<RobustRuleException>(() => new Bulyan(3).Aggregate(_updates));
        Assert.Contains("n >= 4f + 3", e.Message);
    }

    [Theory]
    [InlineData("median")]
    [InlineData("trimmed-mean")]
    [InlineData("bulyan")]
    public void Rescaled_factors_do_not_change_coordinate_wise_results(string name)
    {
        var rescaled = _updates.Select((u, k) => k != 3 ? u : ByzantineAttacks.Create("factor-rescaling", 0.01)
            .Craft(new AttackContext(u, _updates, clientCount: _updates.Count, attackerCount: 1))).ToList();
        var rule = RobustRules.CreateCoordinateWise(name, f: 1);
        var (before, _) = rule.Aggregate(_updates);
        var (after, _) = rule.Aggregate(rescaled);
        using var a = DenseUpdates.Flatten([before]);
        using var b = DenseUpdates.Flatten([after]);
        TensorAssert.Close(b, a, 1e-5);
        before.Dispose();
        after.Dispose();
        rescaled[3].Dispose();
    }

    [Fact]
    public void Aggregator_reports_bulyans_selection_and_hygiene_rejections()
    {
        var clients = _updates.Select((u, k) => new ClientUpdate($"c{k}", u, AllowedRank: 32)).ToList();
        using var result = new Aggregator(new Bulyan(2), new HygieneLimits()).Aggregate(clients);
        Assert.Equal("bulyan", result.Report.Rule);
        Assert.Equal(_x.Length - 4, result.Report.Clients.Count(c => c.Coefficient == 1));
        Assert.Equal(0, result.Report.Clients[^1].Coefficient);
    }
}
