using Federated.Core.Adapters;

namespace Federated.Core.Tests.Compression;

/// <summary>The small adapters compression is tested on: 2 layers of q_proj (64 -> 64) and v_proj (64 -> 32), rank 8.</summary>
static class SmallAdapters
{
    public static readonly IReadOnlyList<ModuleShape> Shapes =
        ModuleShape.LlamaFamily(hidden: 64, layers: 2, targets: ["q_proj", "v_proj"], kvDim: 32);

    public static LoraAdapter Create(long seed, bool useRsLora = false) =>
        RandomAdapters.Create(Shapes, rank: 8, alpha: 16, seed: seed, useRsLora: useRsLora, baseModel: "test/base-model");

    /// <summary>Every factor of the adapter with a name for messages, e.g. <c>model.layers.0.self_attn.q_proj.lora_A</c>.</summary>
    public static IEnumerable<(string Name, Tensor Factor)> Factors(LoraAdapter adapter) =>
        adapter.Modules.SelectMany(m => new[] { ($"{m.Name}.lora_A", m.A), ($"{m.Name}.lora_B", m.B) });
}
