using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>
/// FFA-LoRA (ALGORITHMS.md A3): A drawn once from the federation's seed at the largest rank and frozen for the whole
/// federation; a client at rank r gets its first r rows and trains only B; averaging B (zero-padded) is exact.
/// </summary>
public sealed class FfaStrategy : SeededLiveStrategy
{
    public override string Name => "ffa";
    public override string Description => "frozen shared A from the federation's seed, only B trained and averaged (exact, any ranks)";
    public override bool MixedRanks => true;
    public override bool Exact => true;
    public override bool FreezesA => true;
    public override IAggregationStrategy Combiner(ScalarType? outputDType = null, double? globalEnergy = null) =>
        WithoutEnergy(globalEnergy, new FfaLora(outputDType));

    /// <summary>The live A stays (the round's aggregate may hold fewer rows when no top-rank client took part); B is padded to it.</summary>
    public override LoraAdapter NextLive(LoraAdapter? live, LoraAdapter aggregate) =>
        live is null ? aggregate : LivePadding.PadTo(live, aggregate, keepLiveA: true);
}
