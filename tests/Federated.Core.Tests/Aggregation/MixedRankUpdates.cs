using Federated.Core.Adapters;

namespace Federated.Core.Tests.Aggregation;

/// <summary>Seeded mixed-rank client updates over a small Llama-shaped module set with non-square k/v.</summary>
sealed class MixedRankUpdates : IDisposable
{
    public static readonly IReadOnlyList<ModuleShape> Shapes =
        ModuleShape.LlamaFamily(hidden: 48, layers: 2, targets: ["q_proj", "k_proj", "v_proj", "down_proj"], kvDim: 16, intermediate: 80);

    public MixedRankUpdates(int seed, int[] ranks, bool useRsLora = false, bool sameAlpha = false)
    {
        var random = new Random(seed);
        Updates = ranks.Select((r, k) => RandomAdapters.Create(Shapes, r,
            alpha: sameAlpha ? 16 : 2.0 * r * (0.5 + random.NextDouble()), seed: seed * 100 + k, useRsLora: useRsLora)).ToList();
        Coefficients = Federated.Core.Aggregation.ClientWeights.FromExampleCounts(ranks.Select(_ => (long)random.Next(1, 1000)).ToArray());
    }

    public List<LoraAdapter> Updates { get; }
    public double[] Coefficients { get; }

    public void Dispose()
    {
        foreach (var u in Updates) u.Dispose();
    }
}
