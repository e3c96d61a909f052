using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>
/// Moves between LoRA factors and the dense weight change dW = s B A they stand for. Dense deltas are
/// d_out x d_in per module, so this is for tests and simulations on small models.
/// </summary>
public static class DeltaFactorization
{
    /// <summary>
    /// Every module's dW, row-major and concatenated in the module order of <paramref name="layout"/>
    /// (default: the adapter itself), as one float64 vector: the space whole-adapter attacks work in.
    /// </summary>
    public static Tensor Flatten(LoraAdapter adapter, LoraAdapter? layout = null)
    {
        layout ??= adapter;
        if (adapter.Modules.Count != layout.Modules.Count)
            throw new IncompatibleAdaptersException($"the adapter has {adapter.Modules.Count} modules but the layout has {layout.Modules.Count}");
        using var scope = NewDisposeScope();
        var parts = layout.Modules.Select(expected =>
        {
            var module = adapter[expected.Name];
            if (module.OutFeatures != expected.OutFeatures || module.InFeatures != expected.InFeatures)
                throw new IncompatibleAdaptersException(
                    $"module '{expected.Name}' is {module.OutFeatures}x{module.InFeatures} but the layout has {expected.OutFeatures}x{expected.InFeatures}");
            return module.DenseDelta(float64).reshape(-1);
        }).ToList();
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The best rank-<paramref name="rank"/> factorisation of <paramref name="delta"/> (d_out x d_in) by
    /// truncated SVD, at the given alpha: B = U_r S_r / s and A = V_r^T, so A has orthonormal rows and
    /// B carries the magnitude. When the matrix has fewer than <paramref name="rank"/> singular values
    /// (rank &gt; min(d_out, d_in)) the factors are zero-padded, so the module keeps the declared rank.
    /// </summary>
    public static LoraModule Factor(string name, Tensor delta, int rank, double alpha, bool useRsLora = false)
    {
        if (rank <= 0)
            throw new ArgumentException($"module '{name}': rank must be positive, got {rank}");
        using var svd = Decompose(name, delta);
        return svd.Factor(rank, alpha, useRsLora);
    }

    /// <summary>The thin SVD of one module's dW in float64, from which factors at any rank are cut.</summary>
    static ModuleSvd Decompose(string name, Tensor delta)
    {
        if (delta.dim() != 2)
            throw new ArgumentException($"module '{name}': a delta must be a matrix, got {delta.dim()} dimensions");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (u, s, vh) = linalg.svd(delta.to(float64), fullMatrices: false);
        return new ModuleSvd(name, u.MoveToOuterDisposeScope(), s.MoveToOuterDisposeScope(), vh.MoveToOuterDisposeScope());
    }

    sealed record ModuleSvd(string Name, Tensor U, Tensor S, Tensor Vh) : IDisposable
    {
        /// <param name="rank">Positive (the callers check it before decomposing).</param>
        public LoraModule Factor(int rank, double alpha, bool useRsLora)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            double scale = LoraScaling.Scale(alpha, rank, useRsLora);
            int kept = (int)Math.Min(rank, S.shape[0]);
            using var divisor = scale.ToScalar(); // held to the end of the call (HeldScalars)
            var b = U.narrow(1, 0, kept) * S.narrow(0, 0, kept).div(divisor);
            var a = Vh.narrow(0, 0, kept);
            if (kept < rank)
            {
                b = cat([b, zeros(b.shape[0], rank - kept, float64)], 1);
                a = cat([a, zeros(rank - kept, a.shape[1], float64)], 0);
            }
            return new LoraModule(Name, a.to(float32).contiguous().MoveToOuterDisposeScope(),
                b.to(float32).contiguous().MoveToOuterDisposeScope(), alpha, useRsLora);
        }

        public void Dispose()
        {
            U.Dispose();
            S.Dispose();
            Vh.Dispose();
        }
    }

    /// <summary>
    /// Splits a vector in the <see cref="Flatten"/> layout of <paramref name="layout"/> back into modules
    /// and factors each at <paramref name="rank"/> and <paramref name="alpha"/>; names, base model and
    /// rsLoRA come from the layout.
    /// </summary>
    public static LoraAdapter Factor(Tensor flatDelta, LoraAdapter layout, int rank, double alpha) =>
        Factor(flatDelta, layout, [(rank, alpha)])[0];

    /// <summary>
    /// <see cref="Factor(Tensor, LoraAdapter, int, double)"/> at several (rank, alpha) targets, one adapter each, with
    /// each module decomposed once: every target equals factoring it alone, bit for bit.
    /// </summary>
    public static IReadOnlyList<LoraAdapter> Factor(Tensor flatDelta, LoraAdapter layout, IReadOnlyList<(int Rank, double Alpha)> targets)
    {
        long expected = layout.Modules.Sum(m => (long)m.OutFeatures * m.InFeatures);
        if (flatDelta.dim() != 1 || flatDelta.shape[0] != expected)
            throw new ArgumentException($"a flattened delta of this layout has {expected} entries, got shape [{string.Join("x", flatDelta.shape)}]");
        foreach (var (rank, _) in targets)
            if (rank <= 0)
                throw new ArgumentException($"rank must be positive, got {rank}");
        var modules = targets.Select(_ => new List<LoraModule>(layout.Modules.Count)).ToList();
        long offset = 0;
        foreach (var m in layout.Modules)
        {
            long size = (long)m.OutFeatures * m.InFeatures;
            using (var block = flatDelta.narrow(0, offset, size).reshape(m.OutFeatures, m.InFeatures))
            using (var svd = Decompose(m.Name, block))
                for (int t = 0; t < targets.Count; t++)
                    modules[t].Add(svd.Factor(targets[t].Rank, targets[t].Alpha, layout.UseRsLora));
            offset += size;
        }
        return modules.Select(list => new LoraAdapter(list, layout.BaseModel)).ToList();
    }
}
