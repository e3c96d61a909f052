using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class FfaLoraTests
{
    /// <summary>Clients that share one frozen A (first r_k rows of it) and trained their own B.</summary>
    static List<LoraAdapter> SharedAUpdates(int[] ranks, int seed)
    {
        using var shared = RandomAdapters.Create(MixedRankUpdates.Shapes, ranks.Max(), alpha: 16, seed: seed);
        return ranks.Select((r, k) =>
        {
            using var own = RandomAdapters.Create(MixedRankUpdates.Shapes, r, alpha: 16, seed: seed * 10 + k);
            return new LoraAdapter(own.Modules.Select(m =>
                new LoraModule(m.Name, shared[m.Name].A.narrow(0, 0, r).clone(), m.B.clone(), 2.0 * r)));
        }).ToList();
    }

    [Fact]
    public void Ffa_is_exact_for_mixed_ranks_sharing_the_frozen_A()
    {
        var updates = SharedAUpdates([2, 4, 8], seed: 41);
        double[] p = ClientWeights.FromExampleCounts([100, 300, 50]);
        using var global = new FfaLora().Aggregate(updates, p);
        foreach (var shape in MixedRankUpdates.Shapes)
        {
            using var expected = TensorAssert.WeightedDeltaSum(updates, p, shape.Name);
            using var actual = global[shape.Name].DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
        foreach (var u in updates) u.Dispose();
    }

    [Fact]
    public void Ffa_rejects_clients_whose_A_is_not_the_shared_one()
    {
        using var data = new MixedRankUpdates(42, [4, 4]);
        var e = Assert.Throws<IncompatibleAdaptersException>(() => new FfaLora().Aggregate(data.Updates, data.Coefficients));
        Assert.Contains("shared A", e.Message);
    }
}
