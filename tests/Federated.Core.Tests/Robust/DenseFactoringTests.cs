using Federated.Core.Adapters;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

/// <summary>How a coordinate-wise rule's dense result is written: exactly, or truncated with its true error reported.</summary>
public sealed class DenseFactoringTests
{
    static readonly LoraModule Like = new("layers.0.q_proj", zeros(4, 40), zeros(30, 4), 8);

    /// <summary>A 30 x 40 matrix with a decaying spectrum, so truncation has something to keep and something to drop.</summary>
    static Tensor Dense(int seed)
    {
        var generator = new Generator((ulong)seed);
        var (u, _) = linalg.qr(randn(30, 30, generator: generator));
        var (v, _) = linalg.qr(randn(40, 30, generator: generator));
        var s = pow(0.7, arange(30, dtype: float32));
        return (u * s).matmul(v.t()).contiguous();
    }

    static double ActualError(Tensor dense, LoraModule m)
    {
        using var scope = NewDisposeScope();
        var d = dense.to(float64);
        return (d - m.DenseDelta(float64)).norm().item<double>() / d.norm().item<double>();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(12)]
    public void The_reported_error_is_the_relative_frobenius_error_of_the_factors_written(int rank)
    {
        using var dense = Dense(rank);
        var (module, report) = new DenseFactoring(rank).Factor(Like, clientRank: 99, dense);
        using (module)
        {
            Assert.Equal(rank, module.Rank);
            Assert.Equal(rank, report.Rank);
            Assert.True(report.RelativeError > 1e-3);
            Assert.Equal(ActualError(dense, module), report.RelativeError, 1e-6);
        }
    }

    [Fact]
    public void Truncation_is_within_a_percent_of_the_best_rank_r_approximation()
    {
        using var dense = Dense(5);
        using var values = linalg.svdvals(dense.to(float64));
        var s = values.data<double>().ToArray();
        foreach (int rank in new[] { 2, 4, 8 })
        {
            double best = Math.Sqrt(s.Skip(rank).Sum(x => x * x) / s.Sum(x => x * x));
            var (module, report) = new DenseFactoring(rank).Factor(Like, 16, dense);
            module.Dispose();
            Assert.InRange(report.RelativeError, best * (1 - 1e-9), best * 1.01);
        }
    }

    [Fact]
    public void By_default_the_rank_is_the_largest_client_rank_and_a_result_of_that_rank_is_kept_to_float_rounding()
    {
        using var b = randn(30, 3);
        using var a = randn(3, 40);
        using var dense = b.matmul(a);
        var (module, report) = new DenseFactoring().Factor(Like, clientRank: 3, dense);
        using (module)
        {
            Assert.Equal(3, module.Rank);
            Assert.True(report.RelativeError < 1e-6);
            using var back = module.DenseDelta();
            TensorAssert.Close(back, dense, 1e-5);
        }
    }

    [Fact]
    public void Rank_zero_writes_the_dense_result_bit_for_bit_as_b_equals_d_and_a_the_identity()
    {
        using var dense = Dense(7);
        var (module, report) = DenseFactoring.Exact.Factor(Like, 4, dense);
        using (module)
        {
            Assert.Equal((30, 0.0), (module.Rank, report.RelativeError));
            using var back = module.DenseDelta();
            using var same = back.eq(dense).all();
            Assert.True(same.item<bool>());
        }
    }

    [Fact]
    public void The_aggregation_report_carries_each_modules_rank_and_error()
    {
        var shapes = ModuleShape.LlamaFamily(hidden: 32, layers: 2, targets: ["q_proj", "v_proj"], kvDim: 16);
        var updates = Enumerable.Range(0, 5).Select(k => RandomAdapters.Create(shapes, k == 2 ? 6 : 4, 8, seed: 300 + k, bStd: 0.1)).ToList();
        try
        {
            using var result = new Aggregator(new CoordinateMedian()).Aggregate(updates.Select((u, k) => new ClientUpdate($"c{k}", u)).ToList());
            Assert.Equal(shapes.Select(s => s.Name), result.Report.Factoring!.Select(f => f.Module));
            Assert.All(result.Report.Factoring!, f => Assert.Equal(6, f.Rank));
            Assert.All(result.Global.Modules, m => Assert.Equal(6, m.Rank));
            Assert.False(result.Report.Exact);
            Assert.Equal(result.Report.Factoring!.Max(f => f.RelativeError), result.Report.MaxFactoringError);

            var (exact, _) = new CoordinateMedian().Aggregate(updates);
            using (exact)
                foreach (var (m, f) in result.Global.Modules.Zip(result.Report.Factoring!))
                {
                    using var d = exact[m.Name].DenseDelta();
                    Assert.Equal(ActualError(d, m), f.RelativeError, 1e-6);
                }
        }
        finally
        {
            foreach (var u in updates) u.Dispose();
        }
    }
}
