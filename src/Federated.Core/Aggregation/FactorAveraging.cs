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
    public static LoraModule Average(LoraModule[] column, IReadOnlyList<double> weights, ScalarType dtype)
    {
        var reference = column.MaxBy(m => m.Rank)!;
        int rank = reference.Rank;
        double globalScale = reference.Scale;

        using var scope = NewDisposeScope();
        var a = zeros(rank, reference.InFeatures, float32);
        var b = zeros(reference.OutFeatures, rank, float32);
        for (int k = 0; k < column.Length; k++)
        {
            var m = column[k];
            a.narrow(0, 0, m.Rank).add_(m.A.to(float32), weights[k]);
            b.narrow(1, 0, m.Rank).add_(m.B.to(float32), weights[k] * m.Scale / globalScale);
        }
        return reference.With(a.to(dtype).MoveToOuterDisposeScope(), b.to(dtype).MoveToOuterDisposeScope(), reference.Alpha);
    }

    public static ScalarType CommonDType(IReadOnlyList<LoraAdapter> updates) =>
        updates.Select(u => u.DType).Distinct().Count() == 1 ? updates[0].DType : ScalarType.Float32;
}
