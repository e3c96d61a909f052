using Federated.Core.Adapters;
using Federated.Core.Export;

namespace Federated.Core.Tests.Export;

public class VllmExportTests
{
    /// <summary>
    /// Two deltas on one 40x40 module whose sum has singular values 10 (x8), 1 (x8) and 0.01 (x<paramref name="smallest"/>):
    /// the first delta holds the leading eight directions, the second the rest.
    /// </summary>
    static List<LoraAdapter> DesignedSpectrum(int smallest)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var (u, _) = linalg.qr(randn(40, 40, float64, generator: generator));
        var (v, _) = linalg.qr(randn(40, 40, float64, generator: generator));
        var s = cat([full(8, 10.0, float64), full(8, 1.0, float64), full(smallest, 0.01, float64)]);
        int rank = (int)s.shape[0];
        LoraAdapter Delta(int from, int count) => new([new LoraModule("layer.q_proj",
            v.narrow(1, from, count).t().to(float32).contiguous().MoveToOuterDisposeScope(),
            (u.narrow(1, from, count) * s.narrow(0, from, count)).to(float32).contiguous().MoveToOuterDisposeScope(), alpha: count)]);
        return [Delta(0, 8), Delta(8, rank - 8)];
    }

    [Theory]
    [InlineData(0.2, 8)]
    [InlineData(0.01, 16)]
    [InlineData(0.05, 16)]
    public void ForVllm_picks_the_smallest_allowed_rank_within_the_bound(double bound, int expected)
    {
        var deltas = DesignedSpectrum(smallest: 16);
        try
        {
            var (export, report) = CumulativeExport.ForVllm(deltas, bound);
            using var _ = export;
            Assert.Equal(expected, report.Rank);
            Assert.Equal(expected, export.Modules[0].Rank);
            Assert.Equal(expected, report.VllmMaxLoraRank);
            Assert.Equal("vllm", report.Mode);
            Assert.Equal(bound, report.MaxErrorBound);
            Assert.True(report.MaxRelativeError <= bound);
            // The allowed rank below would have broken the bound.
            var (smaller, smallerReport) = CumulativeExport.Truncated(deltas, VllmRanks.Allowed[VllmRanks.Allowed.ToList().IndexOf(expected) - 1]);
            smaller.Dispose();
            Assert.True(smallerReport.MaxRelativeError > bound);
        }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
    }

    [Fact]
    public void ForVllm_prefers_the_exact_rank_when_it_is_below_the_allowed_rank_that_meets_the_bound()
    {
        var deltas = DesignedSpectrum(smallest: 4);
        try
        {
            var (export, report) = CumulativeExport.ForVllm(deltas, maxError: 1e-9);
            using var _ = export;
            Assert.Equal(20, export.Modules[0].Rank);
            Assert.Equal(0, report.MaxRelativeError);
            Assert.Equal(32, report.VllmMaxLoraRank);
        }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
    }

    [Fact]
    public void ForVllm_refuses_a_bound_that_rank_512_cannot_meet_and_says_what_512_achieves()
    {
        // 540 random directions on a 520x520 module: the sum has full rank 520, and 8 of its directions exceed vLLM's largest rank.
        var shapes = new[] { new ModuleShape("layer.o_proj", 520, 520) };
        var deltas = Enumerable.Range(0, 3).Select(k => RandomAdapters.Create(shapes, rank: 180, alpha: 16, seed: 50 + k)).ToList();
        try
        {
            var e = Assert.Throws<ExportBoundException>(() => CumulativeExport.ForVllm(deltas, maxError: 1e-6));
            var (export, report) = CumulativeExport.Truncated(deltas, VllmRanks.Largest);
            export.Dispose();
            Assert.Equal(report.MaxRelativeError, e.ErrorAtLargestRank, 1e-12);
            Assert.True(e.ErrorAtLargestRank > 1e-6);
            Assert.Equal("layer.o_proj", e.Module);
            Assert.Contains("at rank 512 module 'layer.o_proj' still has", e.Message);
        }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
    }

    [Fact]
    public void Vllm_ranks_round_up_to_the_next_allowed_value()
    {
        Assert.Equal(1, VllmRanks.AtLeast(1));
        Assert.Equal(256, VllmRanks.AtLeast(160));
        Assert.Equal(320, VllmRanks.AtLeast(257));
        Assert.Equal(512, VllmRanks.AtLeast(512));
        Assert.Null(VllmRanks.AtLeast(513));
    }
}
