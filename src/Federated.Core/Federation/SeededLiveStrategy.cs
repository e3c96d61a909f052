using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Federation;

/// <summary>A strategy whose clients continue one live adapter that starts, in round 1, as A drawn from the federation's seed and B = 0.</summary>
public abstract class SeededLiveStrategy : FederatedStrategy
{
    public sealed override bool SeedsInitialAdapter => true;

    public sealed override LoraAdapter? InitialLive(IReadOnlyList<ModuleShape> modules, int rank, double alpha, long seed, string? baseModel) =>
        SeededAdapter.Create(modules, rank, alpha, seed, baseModel);

    /// <summary>The first <paramref name="rank"/> components at the client's own alpha (the live adapter when ranks agree).</summary>
    public override LoraAdapter? ClientInit(LoraAdapter live, int rank, double alpha) => RankTruncation.Truncate(live, rank, alpha);
}
