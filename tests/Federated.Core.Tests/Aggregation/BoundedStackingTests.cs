using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Aggregation;

/// <summary>FLoRA's round global stays bounded whatever K (ALGORITHMS.md A8): losslessly past min(d_out, d_in), and by energy (FLoRIST) when asked.</summary>
public class BoundedStackingTests
{
    /// <summary>Square (stacks within its dimensions at R = 20), wide (d_out &lt; d_in) and tall (d_out &gt; d_in), both past them.</summary>
    static readonly IReadOnlyList<ModuleShape> Shapes =
        [new("layers.0.q_proj", 24, 24), new("layers.0.v_proj", 24, 8), new("layers.0.up_proj", 8, 24)];

    [Fact]
    public void A_module_stacked_past_its_dimensions_is_written_at_rank_min_d_out_d_in_with_the_same_sum()
    {
        var updates = Enumerable.Range(0, 5).Select(k => RandomAdapters.Create(Shapes, rank: 4, alpha: 8 + k, seed: 40 + k)).ToList();
        double[] coefficients = [0.1, 0.3, 0.2, 0.25, 0.15];
        try
        {
            var (global, factoring) = new FloraStacking().AggregateWithFactoring(updates, coefficients);
            using (global)
            {
                foreach (var shape in Shapes)
                {
                    var m = global[shape.Name];
                    int full = Math.Min(shape.InFeatures, shape.OutFeatures);
                    Assert.Equal(Math.Min(20, full), m.Rank);
                    Assert.Equal(1.0, m.Scale, 12);
                    using var expected = TensorAssert.WeightedDeltaSum(updates, coefficients, shape.Name);
                    using var actual = m.DenseDelta(float64);
                    TensorAssert.Close(actual, expected, 1e-5);
                }
                // Only the bounded modules are reported: their rank, and no error.
                Assert.NotNull(factoring);
                Assert.Equal(new[] { new ModuleFactoring("layers.0.v_proj", 8, 0), new ModuleFactoring("layers.0.up_proj", 8, 0) }, factoring);
            }
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
        }
    }

    [Fact]
    public void A_thousand_ranks_in_several_products_sum_to_the_clients_deltas_and_every_update_is_scanned_once()
    {
        // 40 clients of rank 16 (R = 640 > ProductRanks): the dense sum is formed group by group.
        IReadOnlyList<ModuleShape> shapes = [new("layers.0.q_proj", 48, 48), new("layers.0.v_proj", 48, 16)];
        var updates = Enumerable.Range(0, 40).Select(k => RandomAdapters.Create(shapes, rank: 16, alpha: 32, seed: 900 + k)).ToList();
        try
        {
            using var result = new Aggregator(new FloraStacking()).Aggregate(updates.Select((u, k) => new ClientUpdate($"c{k}", u, 10 + k)).ToList());
            Assert.True(result.Report.Exact);
            Assert.Equal(new[] { 48, 16 }, result.Global.Modules.Select(m => m.Rank));
            Assert.Equal(0, result.Report.MaxFactoringError);
            Assert.Equal(2, result.Report.Factoring!.Count);
            var weights = result.Report.Clients.Select(c => c.Weight).ToArray();
            foreach (var shape in shapes)
            {
                using var expected = TensorAssert.WeightedDeltaSum(updates, weights, shape.Name);
                using var actual = result.Global[shape.Name].DenseDelta(float64);
                TensorAssert.Close(actual, expected, 1e-5);
            }
            // The hygiene scan ran inside the grouped products: each client's norm is its own.
            for (int k = 0; k < updates.Count; k++)
            {
                double norm = Math.Sqrt(shapes.Sum(s =>
                {
                    using var d = updates[k][s.Name].DenseDelta(float64);
                    return Math.Pow(d.norm().item<double>(), 2);
                }));
                Assert.Equal(norm, result.Report.Clients[k].Norm!.Value, norm * 1e-5);
            }
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
        }
    }

    [Fact]
    public void A_stack_within_its_dimensions_is_the_plain_stack_bit_for_bit_and_reports_nothing()
    {
        var updates = Enumerable.Range(0, 3).Select(k => RandomAdapters.Create([Shapes[0]], rank: 2 + 2 * k, alpha: 3 + k, seed: 70 + k)).ToList();
        double[] coefficients = [0.5, 0.2, 0.3];
        try
        {
            var (global, factoring) = new FloraStacking().AggregateWithFactoring(updates, coefficients);
            using (global)
            {
                Assert.Null(factoring);
                var m = global[Shapes[0].Name];
                Assert.Equal(2 + 4 + 6, m.Rank);
                Assert.Equal(12.0, m.Alpha);
                // Row block k is (float) (c_k s_k) A_k, column block k is B_k: the stack as A2 writes it.
                using var scope = NewDisposeScope();
                var expectedA = cat(updates.Select((u, k) => u[m.Name].A * (float)(coefficients[k] * u[m.Name].Scale)).ToList(), 0);
                var expectedB = cat(updates.Select(u => u[m.Name].B).ToList(), 1);
                Assert.True(m.A.eq(expectedA).all().item<bool>());
                Assert.True(m.B.eq(expectedB).all().item<bool>());
            }
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
        }
    }

    /// <summary>
    /// Clients whose sum is U diag(8, 4, 2, 1) V^T exactly (U, V orthonormal): one of rank 2 carries (8, 4), two of rank 2
    /// carry half of (2, 1) each; R = 6. On 32 x 32 the truncation runs on the factors; on 4 x 32 (R &gt; 4) on the dense sum.
    /// Energies 64, 16, 4, 1 of 85: tau 0.5 keeps 1, 0.9 keeps 2 (0.941), 0.95 keeps 3 (0.988), 0.99 keeps 4.
    /// </summary>
    [Theory]
    [InlineData(32, 0.5, 1)]
    [InlineData(32, 0.9, 2)]
    [InlineData(32, 0.95, 3)]
    [InlineData(32, 0.99, 4)]
    [InlineData(4, 0.5, 1)]
    [InlineData(4, 0.9, 2)]
    [InlineData(4, 0.95, 3)]
    [InlineData(4, 1.0, 4)]
    public void The_energy_threshold_keeps_the_smallest_rank_meeting_it_and_reports_its_exact_error(int outFeatures, double tau, int expectedRank)
    {
        double[] sigma = [8, 4, 2, 1];
        const string Name = "layers.0.q_proj";
        var (updates, dense) = KnownSpectrum(Name, outFeatures, inFeatures: 32, sigma);
        double[] coefficients = [1, 1, 1];
        try
        {
            var (global, factoring) = new FloraStacking(globalEnergy: tau).AggregateWithFactoring(updates, coefficients);
            using (global)
            {
                var m = global[Name];
                var report = Assert.Single(factoring!);
                Assert.Equal((Name, expectedRank), (report.Module, report.Rank));
                Assert.Equal(expectedRank, m.Rank);
                Assert.Equal(1.0, m.Scale, 12);

                // The smallest rank meeting tau: r keeps at least tau of the energy, r - 1 does not.
                double total = sigma.Sum(s => s * s);
                double kept = sigma.Take(expectedRank).Sum(s => s * s);
                Assert.True(kept >= tau * total);
                Assert.True(sigma.Take(expectedRank - 1).Sum(s => s * s) < tau * total);

                // The reported error is sqrt(1 - kept energy), and it is the error of the factors written.
                Assert.Equal(Math.Sqrt(1 - kept / total), report.RelativeError, 1e-4);
                using var actual = m.DenseDelta(float64);
                using var difference = dense - actual;
                double direct = difference.norm().item<double>() / dense.norm().item<double>();
                Assert.Equal(direct, report.RelativeError, 1e-4);
            }
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
            dense.Dispose();
        }
    }

    [Fact]
    public void A_truncating_round_is_reported_inexact_with_its_largest_module_error()
    {
        var (updates, dense) = KnownSpectrum("layers.0.q_proj", 32, 32, [8, 4, 2, 1]);
        try
        {
            using var result = new AggregatorOptions(GlobalEnergy: 0.9).Build().Aggregate(updates.Select((u, k) => new ClientUpdate($"c{k}", u)).ToList());
            Assert.False(result.Report.Exact);
            Assert.Equal(Math.Sqrt(5.0 / 85), result.Report.MaxFactoringError, 1e-4);
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
            dense.Dispose();
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void An_energy_threshold_outside_zero_to_one_is_refused(double tau)
    {
        var e = Assert.Throws<ArgumentException>(() => new FloraStacking(globalEnergy: tau));
        Assert.Contains($"the global's energy threshold must be in (0, 1], got {tau}", e.Message);
    }

    [Fact]
    public void An_energy_threshold_is_refused_where_no_stack_is_written()
    {
        Assert.Contains("which fedit does not write", Assert.Throws<ArgumentException>(() => AggregationStrategies.Create("fedit", globalEnergy: 0.9)).Message);
        Assert.Contains("median's dense result", Assert.Throws<ArgumentException>(() => new AggregatorOptions(Rule: "median", GlobalEnergy: 0.9).Build()).Message);
    }

    [Theory]
    [InlineData(new[] { 3.0, 2.0, 1.0 }, 1.0, 3, 0.0)]
    [InlineData(new[] { 3.0, 4.0 }, 0.36, 1, 0.8)] // not sorted on purpose: the rank counts leading values
    [InlineData(new[] { 0.0, 0.0 }, 0.5, 1, 0.0)]
    public void Energy_rank_counts_leading_values_until_the_threshold(double[] values, double tau, int rank, double error)
    {
        var (r, e) = FloraStacking.EnergyRank(values, tau);
        Assert.Equal(rank, r);
        Assert.Equal(error, e, 12);
    }

    /// <summary>Three rank-2 updates (scale 1) summing to U diag(sigma) V^T, and that sum in float64.</summary>
    static (List<LoraAdapter> Updates, Tensor Dense) KnownSpectrum(string name, int outFeatures, int inFeatures, double[] sigma)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(5);
        var (u, _) = linalg.qr(randn(outFeatures, 4, float64, generator: generator));
        var (v, _) = linalg.qr(randn(inFeatures, 4, float64, generator: generator));
        var s = tensor(sigma, float64);
        LoraAdapter Update(int first, double share) => new(
            [new LoraModule(name, v.narrow(1, first, 2).t().to(float32).contiguous().MoveToOuterDisposeScope(),
                (u.narrow(1, first, 2) * s.narrow(0, first, 2) * share).to(float32).contiguous().MoveToOuterDisposeScope(), alpha: 2)]);
        var dense = (u * s).matmul(v.t());
        return ([Update(0, 1), Update(2, 0.5), Update(2, 0.5)], dense.MoveToOuterDisposeScope());
    }
}
