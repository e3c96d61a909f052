using Federated.Core.Adapters;

namespace Federated.Core.Tests.Export;

/// <summary>
/// Three merged deltas as a federation accumulates them: ranks 4, 8 and 6, different alphas, the second under rsLoRA;
/// the first lacks layer 1's v_proj (it first appears in the second) and the second lacks layer 1's down_proj.
/// Stacked, q_proj and down_proj stay below their dimensions (factored SVD) while k_proj and v_proj (16 wide) exceed them (dense).
/// </summary>
sealed class DeltaHistoryData : IDisposable
{
    public static readonly IReadOnlyList<ModuleShape> Shapes =
        ModuleShape.LlamaFamily(hidden: 48, layers: 2, targets: ["q_proj", "k_proj", "v_proj", "down_proj"], kvDim: 16, intermediate: 80);

    public const string LateModule = "model.layers.1.self_attn.v_proj", SkippedModule = "model.layers.1.mlp.down_proj";

    public DeltaHistoryData(int seed)
    {
        Deltas =
        [
            RandomAdapters.Create(Shapes.Where(s => s.Name != LateModule).ToList(), rank: 4, alpha: 8, seed: seed, baseModel: "tiny"),
            RandomAdapters.Create(Shapes.Where(s => s.Name != SkippedModule).ToList(), rank: 8, alpha: 5, seed: seed + 1, useRsLora: true, baseModel: "tiny"),
            RandomAdapters.Create(Shapes, rank: 6, alpha: 12, seed: seed + 2, baseModel: "tiny"),
        ];
    }

    public List<LoraAdapter> Deltas { get; }

    /// <summary>The module's cumulative dW over the deltas that have it, dense, in float64.</summary>
    public Tensor DenseSum(string module)
    {
        using var scope = NewDisposeScope();
        var terms = Deltas.Where(d => d.Contains(module)).Select(d => d[module].DenseDelta(float64)).ToList();
        return terms.Aggregate((x, y) => x + y).MoveToOuterDisposeScope();
    }

    public int StackedRank(string module) => Deltas.Where(d => d.Contains(module)).Sum(d => d[module].Rank);

    public void Dispose()
    {
        foreach (var d in Deltas) d.Dispose();
    }
}
