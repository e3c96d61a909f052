using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// FlexLoRA-style aggregation (ALGORITHMS.md A4): the truncated SVD of sum_k c_k dW_k, computed exactly
/// from the FLoRA stack without forming d_out x d_in (the FLoRIST form, via thin QR of both stacked
/// factors and an SVD of the small R x R core). The result is in SVD order (B = U S, A = V^T, scale 1)
/// at <c>rank</c> (default: the largest client rank of each module), so <see cref="RankTruncation"/>
/// hands each client the best rank-r_k approximation. Exact when the rank reaches R = sum r_k.
/// </summary>
public sealed class FlexLoraRedistribution(int? rank = null, ScalarType? outputDType = null) : IAggregationStrategy
{
    public string Name => "flexlora";
    public bool IsExact => false;

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients, UpdateScan? scan = null)
    {
        ClientWeights.Validate(updates, coefficients);
        if (rank is <= 0)
            throw new ArgumentException($"flexlora rank must be positive, got {rank}");
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        return ModuleAlignment.Combine(updates, scan, (column, columnScan) => Refactor(column, coefficients, rank ?? column.Max(m => m.Rank), dtype, columnScan));
    }

    /// <summary>
    /// The best rank-<paramref name="rank"/> factorisation of sum_k c_k dW_k, in SVD order, from the
    /// float64 stack B A: B = Q_B R_B and A^T = Q_A R_A give B A = Q_B (R_B R_A^T) Q_A^T, and the SVD
    /// of the small core U S V^T yields B A = (Q_B U S)(V^T Q_A^T).
    /// </summary>
    static LoraModule Refactor(LoraModule[] column, IReadOnlyList<double> coefficients, int rank, ScalarType dtype, ColumnScan scan)
    {
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var (stackedA, stackedB) = FloraStacking.StackFactors(column, coefficients, float64, FactorKernels.For(column), scan);
            var (qb, rb) = linalg.qr(stackedB);
            var (qa, ra) = linalg.qr(stackedA.t());
            var (u, s, vh) = linalg.svd(rb.matmul(ra.t()), fullMatrices: false);
            int kept = (int)Math.Min(rank, s.shape[0]);
            var b = qb.matmul(u.narrow(1, 0, kept) * s.narrow(0, 0, kept));
            var a = vh.narrow(0, 0, kept).matmul(qa.t());
            return column[0].With(a.to(dtype).contiguous().MoveToOuterDisposeScope(),
                b.to(dtype).contiguous().MoveToOuterDisposeScope(), LoraScaling.AlphaFor(1.0, kept, column[0].UseRsLora));
        }
    }
}
