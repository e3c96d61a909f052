using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// Averages A and B separately (FedIT, HetLoRA): factors are zero-padded to the largest rank, and each
/// client's scale s_k is folded into its B so clients with different alphas average consistently.
/// </summary>
static class FactorAveraging
{
    /// <param name="weights">Per-client weights, applied to both factors.</param>
    /// <param name="scan">Each client's factors are scanned right before they are accumulated, while still in cache.</param>
    public static LoraModule Average(LoraModule[] column, IReadOnlyList<double> weights, ScalarType dtype, ColumnScan scan = default)
    {
        var reference = column.MaxBy(m => m.Rank)!;
        if (column.All(m => m.Rank == reference.Rank && m.TryHostFloat32(out _, out _)))
            return AverageOnHost(column, weights, dtype, scan, reference);
        var kernels = FactorKernels.For(column);
        var a = zeros(reference.Rank, reference.InFeatures, float32, reference.A.device);
        var b = zeros(reference.OutFeatures, reference.Rank, float32, reference.B.device);
        for (int k = 0; k < column.Length; k++)
        {
            var m = column[k];
            scan.Visit(k, m);
            kernels.RowBlock(m.A, a, 0, weights[k], accumulate: true);
            kernels.ColumnBlock(m.B, b, 0, weights[k] * m.Scale / reference.Scale, accumulate: true);
        }
        return reference.With(Into(a, dtype), Into(b, dtype), reference.Alpha);
    }

    /// <summary>
    /// Equal ranks in host float32: each client's factors are summed, checked and their norm's Grams computed in one read of
    /// their memory (the scan's loops add them), while the next client's are prefetched. Positions the scan does not record
    /// are summed on their own.
    /// </summary>
    static LoraModule AverageOnHost(LoraModule[] column, IReadOnlyList<double> weights, ScalarType dtype, ColumnScan scan, LoraModule reference)
    {
        // Uninitialised: the first client's products are written as they would be added to zeros.
        var a = empty(reference.Rank, reference.InFeatures, float32);
        var b = empty(reference.OutFeatures, reference.Rank, float32);
        var sumA = FactorKernels.Host.Floats(a);
        var sumB = FactorKernels.Host.Floats(b);
        for (int k = 0; k < column.Length; k++)
        {
            var m = column[k];
            m.TryHostFloat32(out var fromA, out var fromB);
            float weightA = (float)weights[k], weightB = (float)(weights[k] * m.Scale / reference.Scale);
            var next = default(Prefetcher);
            if (k + 1 < column.Length && column[k + 1].TryHostFloat32(out var nextA, out var nextB)) next = new(nextA, nextB);
            if (!scan.Visit(k, m, fromA, fromB, new FactorSums(sumA, weightA, sumB, weightB, start: k == 0), next))
            {
                FactorKernels.Host.MultiplyAdd(fromA, weightA, sumA, start: k == 0);
                FactorKernels.Host.MultiplyAdd(fromB, weightB, sumB, start: k == 0);
            }
        }
        return reference.With(Into(a, dtype), Into(b, dtype), reference.Alpha);
    }

    public static ScalarType CommonDType(IReadOnlyList<LoraAdapter> updates) =>
        updates.Select(u => u.DType).Distinct().Count() == 1 ? updates[0].DType : ScalarType.Float32;

    /// <summary>Converts an accumulator to the output dtype, disposing it when a copy was made.</summary>
    public static Tensor Into(Tensor accumulator, ScalarType dtype)
    {
        if (accumulator.dtype == dtype) return accumulator;
        using (accumulator) return accumulator.to(dtype);
    }
}
