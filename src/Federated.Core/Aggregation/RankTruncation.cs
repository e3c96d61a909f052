using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// Hands a client the first r components of a global adapter (FlexLoRA after its SVD ordering, or
/// HetLoRA's truncation of the zero-padded global), at the client's own alpha: B' = B[:, :r] s_g / s_r,
/// A' = A[:r, :], so s_r B' A' equals the global's leading rank-r part.
/// </summary>
public static class RankTruncation
{
    public static LoraAdapter Truncate(LoraAdapter global, int rank, double? alpha = null)
    {
        if (rank <= 0)
            throw new ArgumentException($"rank must be positive, got {rank}");
        var modules = global.Modules.Select(m =>
        {
            int r = Math.Min(rank, m.Rank);
            double a = alpha ?? m.Alpha;
            double factor = m.Scale / LoraScaling.Scale(a, r, m.UseRsLora);
            using var scope = NewDisposeScope();
            using var scale = factor.ToScalar();
            var newA = m.A.narrow(0, 0, r).clone().MoveToOuterDisposeScope();
            var newB = m.B.narrow(1, 0, r).mul(scale).to(m.DType).contiguous().MoveToOuterDisposeScope();
            return m.With(newA, newB, a);
        }).ToList();
        return new LoraAdapter(modules, global.BaseModel);
    }
}
