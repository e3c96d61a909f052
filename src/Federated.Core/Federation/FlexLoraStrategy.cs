using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>
/// FlexLoRA (ALGORITHMS.md A4): the server keeps the exact weighted sum of the clients' adapters as the global (a FLoRA
/// stack, so no d_out x d_in matrix); each client receives the rank-r_k truncated SVD of it, computed from the factors,
/// and continues from that. Round 1 starts fresh branches (the global is still zero).
/// </summary>
public sealed class FlexLoraStrategy : FederatedStrategy
{
    public override string Name => "flexlora";
    public override string Description => "keeps the exact sum of the clients' adapters; each client continues from its rank-r truncated SVD";
    public override bool MixedRanks => true;
    public override bool Exact => true;
    public override bool StacksGlobal => true;
    public override IAggregationStrategy Combiner(ScalarType? outputDType = null, double? globalEnergy = null) => new FloraStacking(outputDType, globalEnergy);

    public override LoraAdapter? ClientInit(LoraAdapter live, int rank, double alpha)
    {
        using var svd = new FlexLoraRedistribution(rank).Aggregate([live], [1.0]);
        return RankTruncation.Truncate(svd, rank, alpha);
    }
}
