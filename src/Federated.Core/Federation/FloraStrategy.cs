using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>FLoRA (ALGORITHMS.md A2): fresh branches each round on base + history; the round's exact stack joins the history.</summary>
public sealed class FloraStrategy : FederatedStrategy
{
    public override string Name => "flora";
    public override string Description => "stacks the clients' factors exactly (any ranks); each round's stack is merged into the base, clients train fresh branches";
    public override bool MixedRanks => true;
    public override bool Exact => true;
    public override bool AccumulatesHistory => true;
    public override bool StacksGlobal => true;
    public override IAggregationStrategy Combiner(ScalarType? outputDType = null, double? globalEnergy = null) => new FloraStacking(outputDType, globalEnergy);
}
