using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>How one module's dense result was written: at what rank, and its relative Frobenius error ||D - B A||_F / ||D||_F.</summary>
public sealed record ModuleFactoring(string Module, int Rank, double RelativeError);

/// <summary>
/// How a coordinate-wise rule's dense result D (d_out x d_in per module) becomes a LoRA module, so that every consumer of
/// a global adapter (the PEFT directory, the coordinator's history and the agents that merge it, exports, vLLM) takes it
/// unchanged. Exact: B = D, A = I (or B = I, A = D) at rank min(d_out, d_in), bit for bit, as large as D plus an identity
/// (166 MB for Qwen2-0.5B's q/v). Truncated (the default, at the largest client rank of the module): B A is D projected
/// onto a rank-r subspace found by randomized subspace iteration (Halko, Martinsson and Tropp 2011: a Gaussian sketch with
/// 8 extra columns, two power iterations, then the SVD of the small projection Q^T D), near the best rank-r approximation
/// at a few GEMMs per module instead of a full SVD. Since B A = P D for an orthogonal projection P, the reported error
/// sqrt(||D||^2 - ||B A||^2) / ||D|| is the error of the factors written, not an estimate. The sketch is seeded: the same
/// D gives the same factors.
/// </summary>
/// <param name="rank">0: exact; null: the largest rank among the module's updates; else that rank (at most min(d_out, d_in), where it is exact).</param>
public sealed class DenseFactoring(int? rank = null)
{
    const int Oversampling = 8, PowerIterations = 2, Seed = 17;

    /// <summary>B = D, A = I: no error, no compaction.</summary>
    public static readonly DenseFactoring Exact = new(0);

    public int? Rank { get; } = rank is < 0 ? throw new ArgumentException($"the rank of a dense result must be non-negative, got {rank}") : rank;

    /// <param name="clientRank">The largest rank among the updates that produced <paramref name="dense"/>.</param>
    public (LoraModule Module, ModuleFactoring Report) Factor(LoraModule like, int clientRank, Tensor dense)
    {
        int full = Math.Min(like.OutFeatures, like.InFeatures);
        int r = Rank == 0 ? full : Math.Min(Rank ?? clientRank, full);
        if (r >= full)
            return (Identity(like, dense, full), new ModuleFactoring(like.Name, full, 0));

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var d = dense.to(float32);
        int width = Math.Min(r + Oversampling, full);
        using var generator = new Generator(Seed);
        var q = Orthonormal(d.matmul(randn(like.InFeatures, width, generator: generator)));
        for (int i = 0; i < PowerIterations; i++)
            q = Orthonormal(d.matmul(Orthonormal(d.t().matmul(q))));
        // Q once more in float64, so that Q Q^T is a projection to float64 rounding and the error identity holds.
        var d64 = d.to(float64);
        var q64 = Orthonormal(q.to(float64));
        var (u, s, vh) = linalg.svd(q64.t().matmul(d64), fullMatrices: false);
        var kept = s.narrow(0, 0, r);
        var b = q64.matmul(u.narrow(1, 0, r) * kept).to(float32).contiguous();
        var a = vh.narrow(0, 0, r).to(float32).contiguous();
        double total = d64.square().sum().item<double>(), captured = kept.square().sum().item<double>();
        double error = total == 0 ? 0 : Math.Sqrt(Math.Max(0, total - captured) / total);
        var module = new LoraModule(like.Name, a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(),
            LoraScaling.AlphaFor(1.0, r, like.UseRsLora), like.UseRsLora);
        return (module, new ModuleFactoring(like.Name, r, error));
    }

    static Tensor Orthonormal(Tensor columns)
    {
        var (q, _) = linalg.qr(columns);
        return q;
    }

    /// <summary>B = D, A = I (or B = I, A = D when d_out &lt; d_in) at scale 1: D exactly.</summary>
    static LoraModule Identity(LoraModule like, Tensor dense, int rank)
    {
        var result = dense.to(float32).clone();
        var identity = eye(rank, dtype: float32);
        var (a, b) = like.OutFeatures >= like.InFeatures ? (identity, result) : (result, identity);
        return new LoraModule(like.Name, a, b, LoraScaling.AlphaFor(1.0, rank, like.UseRsLora), like.UseRsLora);
    }
}
