using Federated.Core.Adapters;
using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// Merges LoRA updates into base weights: W &lt;- W + s B A, the sum formed in float32 and stored in W's dtype, so a
/// bf16 base weight is rounded once (not once for the delta and again for the sum).
/// </summary>
public static class LoraMerge
{
    public static void MergeInto(Tensor weight, LoraModule module)
    {
        if (weight.dim() != 2 || weight.shape[0] != module.OutFeatures || weight.shape[1] != module.InFeatures)
            throw new AdapterShapeException(
                $"module '{module.Name}' is {module.OutFeatures}x{module.InFeatures} but the base weight is [{string.Join("x", weight.shape)}]");
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            using var scale = module.Scale.ToScalar();
            var delta = module.B.to(float32, weight.device).matmul(module.A.to(float32, weight.device)).mul_(scale);
            if (weight.dtype == float32) weight.add_(delta, HeldScalars.One);
            else weight.copy_(delta.add_(weight.to(float32), HeldScalars.One));
        }
    }

    /// <summary>Merges every module into <c>{module name}.weight</c> of <paramref name="weights"/> (HF tensor names).</summary>
    public static void MergeInto(IReadOnlyDictionary<string, Tensor> weights, LoraAdapter adapter)
    {
        foreach (var m in adapter.Modules)
        {
            string key = m.Name + ".weight";
            if (!weights.TryGetValue(key, out var w))
                throw new AdapterShapeException($"the base model has no weight '{key}' for module '{m.Name}'");
            MergeInto(w, m);
        }
    }
}
