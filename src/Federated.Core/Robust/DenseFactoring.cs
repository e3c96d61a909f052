using System.Runtime.InteropServices;
using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>
/// How one module of a global was written at another rank than its inputs give (a coordinate-wise rule's dense result, or a
/// FLoRA stack bounded or truncated): at what rank, and its relative Frobenius error ||D - B A||_F / ||D||_F.
/// </summary>
public sealed record ModuleFactoring(string Module, int Rank, double RelativeError);

/// <summary>
/// How a coordinate-wise rule's dense result D (d_out x d_in per module) becomes a LoRA module, so that every consumer of
/// a global adapter (the PEFT directory, the coordinator's history and the agents that merge it, exports, vLLM) takes it
/// unchanged. Exact: B = D, A = I (or B = I, A = D) at rank min(d_out, d_in), bit for bit, as large as D plus an identity
/// (166 MB for Qwen2-0.5B's q/v). Truncated (the default, at the largest client rank of the module): B A is D projected
/// onto a rank-r subspace found by randomized subspace iteration (Halko, Martinsson and Tropp 2011: a seeded Gaussian
/// sketch with 8 extra columns, two power iterations, then the eigenvectors U of the small Gram (Q^T D)(Q^T D)^T), near
/// the best rank-r approximation at a few thin products per module instead of a full SVD. B = Q U_r has orthonormal
/// columns and A = U_r^T Q^T D, so B A = P D for an orthogonal projection P and the reported error
/// sqrt(||D||^2 - ||A||^2) / ||D|| is the error of the factors written, not an estimate.
/// <para>
/// The arithmetic is .NET's (<see cref="Sketch"/>, float64), not libtorch's: a coordinate-wise rule alternates this with
/// its own parallel tiles module after module, and libtorch's OpenMP threads spin for milliseconds after each operation,
/// taking the cores from those tiles (measured: a median at K = 10 took 7 s instead of 0.8 s).
/// </para>
/// </summary>
/// <param name="rank">0: exact; null: the largest rank among the module's updates; else that rank (at most min(d_out, d_in), where it is exact).</param>
public sealed class DenseFactoring(int? rank = null)
{
    const int Oversampling = 8, PowerIterations = 2, Seed = 17;

    /// <summary>B = D, A = I: no error, no compaction.</summary>
    public static readonly DenseFactoring Exact = new(0);

    public int? Rank { get; } = rank is < 0 ? throw new ArgumentException($"the rank of a dense result must be non-negative, got {rank}") : rank;

    /// <param name="clientRank">The largest rank among the updates that produced <paramref name="dense"/>.</param>
    /// <param name="dense">D: d_out x d_in, float32, contiguous, on the host.</param>
    public (LoraModule Module, ModuleFactoring Report) Factor(LoraModule like, int clientRank, Tensor dense)
    {
        int full = Math.Min(like.OutFeatures, like.InFeatures);
        int r = Rank == 0 ? full : Math.Min(Rank ?? clientRank, full);
        if (r >= full)
            return (Identity(like, dense, full), new ModuleFactoring(like.Name, full, 0));

        var (b, a, error) = Sketch.Truncate(MemoryMarshal.Cast<byte, float>(dense.bytes), like.OutFeatures, like.InFeatures, r,
            Math.Min(r + Oversampling, full), PowerIterations, Seed);
        var module = new LoraModule(like.Name, tensor(a, [r, like.InFeatures]), tensor(b, [like.OutFeatures, r]),
            LoraScaling.AlphaFor(1.0, r, like.UseRsLora), like.UseRsLora);
        return (module, new ModuleFactoring(like.Name, r, error));
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
