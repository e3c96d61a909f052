using Federated.Core.Adapters;
using Federated.Core.Export;

namespace Federated.Core.Tests.Export;

public class CumulativeExportTests
{
    /// <summary>The best rank-r approximation by a dense SVD, with its retained energy and relative error measured directly.</summary>
    static (Tensor Truncated, double Energy, double Error) DenseTruncation(Tensor dense, int rank)
    {
        using var scope = NewDisposeScope();
        var (u, s, vh) = linalg.svd(dense, fullMatrices: false);
        int kept = Math.Min(rank, (int)s.shape[0]);
        var truncated = (u.narrow(1, 0, kept) * s.narrow(0, 0, kept)).matmul(vh.narrow(0, 0, kept));
        var squares = s.square();
        double energy = (squares.narrow(0, 0, kept).sum() / squares.sum()).item<double>();
        double error = ((dense - truncated).norm() / dense.norm()).item<double>();
        return (truncated.MoveToOuterDisposeScope(), energy, error);
    }

    [Fact]
    public void Exact_export_equals_the_dense_sum_of_deltas_with_mixed_ranks_alphas_and_module_sets()
    {
        using var data = new DeltaHistoryData(seed: 41);
        using var export = CumulativeExport.Exact(data.Deltas, baseModel: "base");
        Assert.Equal("base", export.BaseModel);
        Assert.False(export.UseRsLora);
        foreach (var shape in DeltaHistoryData.Shapes)
        {
            var m = export[shape.Name];
            Assert.Equal(data.StackedRank(shape.Name), m.Rank);
            Assert.Equal(1.0, m.Scale);
            using var expected = data.DenseSum(shape.Name);
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
        // Inputs stay usable: the export copied their factors.
        Assert.Equal(4, data.Deltas[0].Modules[0].A.shape[0]);
    }

    [Fact]
    public void Modules_come_in_order_of_first_appearance()
    {
        using var data = new DeltaHistoryData(seed: 42);
        using var export = CumulativeExport.Exact(data.Deltas);
        var expected = data.Deltas[0].Modules.Select(m => m.Name).Append(DeltaHistoryData.LateModule);
        Assert.Equal(expected, export.Modules.Select(m => m.Name));
        Assert.Equal("tiny", export.BaseModel);
    }

    [Fact]
    public void Deltas_that_disagree_on_a_module_shape_are_refused()
    {
        using var a = RandomAdapters.Create([new ModuleShape("layer.q_proj", 8, 8)], rank: 2, alpha: 4, seed: 1);
        using var b = RandomAdapters.Create([new ModuleShape("layer.q_proj", 8, 12)], rank: 2, alpha: 4, seed: 2);
        var e = Assert.Throws<IncompatibleAdaptersException>(() => CumulativeExport.Exact([a, b]));
        Assert.Contains("'layer.q_proj': delta 1 is 12x8", e.Message);
    }

    [Theory]
    [InlineData(43, 3)]
    [InlineData(44, 5)]
    public void Truncated_export_reports_the_energy_and_error_of_a_dense_svd(int seed, int rank)
    {
        using var data = new DeltaHistoryData(seed);
        var (export, report) = CumulativeExport.Truncated(data.Deltas, rank);
        using var _ = export;
        Assert.Equal(DeltaHistoryData.Shapes.Count, report.Modules.Count);
        Assert.Contains(report.Modules, m => m.Method == "dense");
        Assert.Contains(report.Modules, m => m.Method == "factored");
        foreach (var m in report.Modules)
        {
            using var dense = data.DenseSum(m.Name);
            var (truncated, energy, error) = DenseTruncation(dense, rank);
            using var __ = truncated;
            Assert.Equal(data.StackedRank(m.Name), m.StackedRank);
            Assert.Equal(rank, m.KeptRank);
            Assert.Equal(energy, m.RetainedEnergy, 1e-6);
            Assert.Equal(error, m.RelativeError, 1e-6);
            Assert.Equal(Math.Sqrt(1 - m.RetainedEnergy), m.RelativeError, 1e-6);
        }
        Assert.Equal(report.Modules.Max(m => m.RelativeError), report.MaxRelativeError);
        Assert.Equal(export.ParameterCount, report.ExportedParameters);
        Assert.Equal(data.Deltas.Sum(d => d.ParameterCount), report.HistoryParameters);
    }

    [Theory]
    [InlineData(45, 3)]
    [InlineData(46, 7)]
    public void Truncated_export_equals_the_dense_rank_r_truncation(int seed, int rank)
    {
        using var data = new DeltaHistoryData(seed);
        var (export, _) = CumulativeExport.Truncated(data.Deltas, rank);
        using var __ = export;
        foreach (var m in export.Modules)
        {
            Assert.Equal(rank, m.Rank);
            Assert.Equal(1.0, m.Scale);
            using var dense = data.DenseSum(m.Name);
            var (expected, _, _) = DenseTruncation(dense, rank);
            using var ___ = expected;
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }

    [Fact]
    public void A_rank_at_least_the_stacked_rank_exports_exactly()
    {
        using var data = new DeltaHistoryData(seed: 47);
        var (export, report) = CumulativeExport.Truncated(data.Deltas, rank: 18);
        using var _ = export;
        Assert.True(report.MaxRelativeError < 1e-6, $"max relative error {report.MaxRelativeError:E2}");
        foreach (var m in report.Modules)
        {
            Assert.Equal(1.0, m.RetainedEnergy, 1e-12);
            using var expected = data.DenseSum(m.Name);
            using var actual = export[m.Name].DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }
}
