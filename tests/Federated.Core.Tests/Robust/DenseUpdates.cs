using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Attacks;

namespace Federated.Core.Tests.Robust;

/// <summary>Dense reference material: every update's dW flattened over all modules, in float64.</summary>
static class DenseUpdates
{
    public static Tensor Flatten(IReadOnlyList<LoraAdapter> updates)
    {
        using var scope = NewDisposeScope();
        return stack(updates.Select(u => DeltaFactorization.Flatten(u)).ToList()).MoveToOuterDisposeScope();
    }

    /// <summary>sum_k c_k x_k as a dense vector.</summary>
    public static Tensor Combine(Tensor x, IReadOnlyList<double> c)
    {
        using var scope = NewDisposeScope();
        return tensor(c.ToArray(), float64).matmul(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Clustered honest updates with mixed ranks: client k sends dW_base + noise dW_k, built as a FLoRA
    /// stack of a shared rank-4 base and its own rank-r_k noise, so honest clients agree up to noise.
    /// </summary>
    public static List<LoraAdapter> Honest(int[] ranks, double noise, int seed)
    {
        var shapes = ModuleShape.LlamaFamily(hidden: 24, layers: 2, targets: ["q_proj", "v_proj"], kvDim: 8);
        using var shared = RandomAdapters.Create(shapes, 4, 8, seed, bStd: 0.1);
        return ranks.Select((r, k) =>
        {
            using var own = RandomAdapters.Create(shapes, r, 2.0 * r, seed * 1000 + k, bStd: 0.1);
            return new FloraStacking().Aggregate([shared, own], [1.0, noise]);
        }).ToList();
    }

    /// <summary>-factor x the update (B scaled), the sign-flip (factor 1) and "reverse" (factor 10) attacks.</summary>
    public static LoraAdapter Reversed(LoraAdapter update, double factor) =>
        new(update.Modules.Select(m => m.With(m.A.clone(), m.B * -factor, m.Alpha)), update.BaseModel);
}
