using Federated.Core.Adapters;
using Federated.Attacks;

namespace Federated.Core.Tests.Attacks;

/// <summary>
/// Seeded honest updates that agree, as in a real round: a shared random rank-4 update plus about 10%
/// per-client noise on each factor, over a small Llama-shaped module set with non-square v_proj.
/// </summary>
sealed class ClusteredUpdates : IDisposable
{
    public static readonly IReadOnlyList<ModuleShape> Shapes =
        ModuleShape.LlamaFamily(hidden: 32, layers: 2, targets: ["q_proj", "v_proj"], kvDim: 16);

    /// <summary>min(d_out, d_in) of the largest module: at this rank every crafted dW is factored exactly.</summary>
    public const int FullRank = 32;
    public const string BaseModel = "test/tiny-llama";

    public ClusteredUpdates(int seed, int count = 8, int rank = 4, double alpha = 8, double noise = 0.1, ScalarType dtype = ScalarType.Float32)
    {
        using var shared = RandomAdapters.Create(Shapes, rank, alpha, seed);
        Honest = Enumerable.Range(0, count).Select(k =>
        {
            using var jitter = RandomAdapters.Create(Shapes, rank, alpha, seed * 1000 + k + 1);
            return new LoraAdapter(shared.Modules.Select(m =>
            {
                var j = jitter[m.Name];
                return m.With((m.A + noise * j.A).to(dtype), (m.B + noise * j.B).to(dtype), alpha);
            }).ToList(), BaseModel);
        }).ToList();
    }

    public List<LoraAdapter> Honest { get; }
    public LoraAdapter Own => Honest[0];

    public AttackContext Context(int clientCount = 10, int attackerCount = 2, int? rank = null, double? alpha = null) =>
        new(Own, Honest, clientCount, attackerCount, seed: 7, rank: rank, alpha: alpha);

    /// <summary>n x D float64: the honest dW, flattened in the own update's layout.</summary>
    public Tensor Stack() => stack(Honest.Select(u => DeltaFactorization.Flatten(u, Own)), 0);

    /// <summary>Coordinate-wise sample std, written out rather than through torch.std.</summary>
    public static Tensor SampleStd(Tensor stacked)
    {
        using var scope = NewDisposeScope();
        var centred = stacked - stacked.mean([0]);
        return (centred.pow(2).sum([0]) / (stacked.shape[0] - 1)).sqrt().MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var u in Honest) u.Dispose();
    }
}
