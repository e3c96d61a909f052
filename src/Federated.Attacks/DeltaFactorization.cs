using Federated.Core.Adapters;
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
        if (delta.dim() != 2)
            throw new ArgumentException($"module '{name}': a delta must be a matrix, got {delta.dim()} dimensions");
        if (rank <= 0)
            throw new ArgumentException($"module '{name}': rank must be positive, got {rank}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double scale = LoraScaling.Scale(alpha, rank, useRsLora);
        var (u, s, vh) = linalg.svd(delta.to(float64), fullMatrices: false);
        int kept = (int)Math.Min(rank, s.shape[0]);
        var b = u.narrow(1, 0, kept) * (s.narrow(0, 0, kept) / scale);
        var a = vh.narrow(0, 0, kept);
        if (kept < rank)
        {
            b = cat([b, zeros(b.shape[0], rank - kept, float64)], 1);
            a = cat([a, zeros(rank - kept, a.shape[1], float64)], 0);
        }
        return new LoraModule(name, a.to(float32).contiguous().MoveToOuterDisposeScope(),
            b.to(float32).contiguous().MoveToOuterDisposeScope(), alpha, useRsLora);
    }

    /// <summary>
    /// Splits a vector in the <see cref="Flatten"/> layout of <paramref name="layout"/> back into modules
    /// and factors each at <paramref name="rank"/> and <paramref name="alpha"/>; names, base model and
    /// rsLoRA come from the layout.
    /// </summary>
    public static LoraAdapter Factor(Tensor flatDelta, LoraAdapter layout, int rank, double alpha)
    {
        long expected = layout.Modules.Sum(m => (long)m.OutFeatures * m.InFeatures);
        if (flatDelta.dim() != 1 || flatDelta.shape[0] != expected)
            throw new ArgumentException($"a flattened delta of this layout has {expected} entries, got shape [{string.Join("x", flatDelta.shape)}]");
        var modules = new List<LoraModule>(layout.Modules.Count);
        long offset = 0;
        foreach (var m in layout.Modules)
        {
            long size = (long)m.OutFeatures * m.InFeatures;
            using var block = flatDelta.narrow(0, offset, size).reshape(m.OutFeatures, m.InFeatures);
            modules.Add(Factor(m.Name, block, rank, alpha, layout.UseRsLora));
            offset += size;
        }
        return new LoraAdapter(modules, layout.BaseModel);
    }
}
