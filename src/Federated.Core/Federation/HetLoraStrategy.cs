using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>
/// HetLoRA (ALGORITHMS.md A5): a live (A, B) at the largest rank (round 1: seeded A, B = 0); a client at rank r receives
/// its truncation B[:, :r], A[:r, :] and continues; the server zero-pads the returned factors and averages them, weighted
/// by p_k ||dW_k||_F (hetlora) or p_k (zero-padding). Norm weights reward large updates: cap norms or use a robust rule.
/// </summary>
public sealed class HetLoraStrategy(bool normWeighted) : SeededLiveStrategy
{
    public override string Name => normWeighted ? "hetlora" : "zero-padding";
    public override string Description => normWeighted
        ? "truncates the live adapter to each client's rank; zero-padded average weighted by update norm"
        : "truncates the live adapter to each client's rank; zero-padded average weighted by example counts";
    public override bool MixedRanks => true;
    public override bool Exact => false;
    public override IAggregationStrategy Combiner(ScalarType? outputDType = null, double? globalEnergy = null) =>
        WithoutEnergy(globalEnergy, new ZeroPadding(normWeighted, outputDType));

    /// <summary>Padding to the live rank is zero-padding's definition: components no client trained this round are zero.</summary>
    public override LoraAdapter NextLive(LoraAdapter? live, LoraAdapter aggregate) =>
        live is null ? aggregate : LivePadding.PadTo(live, aggregate, keepLiveA: false);
}
