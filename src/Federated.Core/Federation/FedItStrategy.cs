using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>
/// FedIT (ALGORITHMS.md A1): one live (A, B) at one rank; round 1 starts every client from the same seeded A and B = 0,
/// clients continue training it, and the next live adapter is the weighted average of the factors.
/// </summary>
public sealed class FedItStrategy : SeededLiveStrategy
{
    public override string Name => "fedit";
    public override string Description => "FedAvg of A and B; every client continues the shared live adapter (one rank for all)";
    public override bool MixedRanks => false;
    public override bool Exact => false;
    public override IAggregationStrategy Combiner(ScalarType? outputDType = null, double? globalEnergy = null) =>
        WithoutEnergy(globalEnergy, new FedItAveraging(outputDType));

    public override LoraAdapter? ClientInit(LoraAdapter live, int rank, double alpha)
    {
        if (live.Modules.Any(m => m.Rank != rank))
            throw new ArgumentException($"fedit: the live adapter has rank {live.PredominantRank}, the client is assigned {rank}; fedit needs one rank for every client");
        return live.Clone();
    }
}
