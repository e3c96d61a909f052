using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>An <see cref="Aggregator"/> by names, as the CLI and federation configs spell them.</summary>
/// <param name="Rule">A Gram-based rule (<see cref="RobustRules.Names"/>), a coordinate-wise one, or null for the weighted mean.</param>
/// <param name="PreAggregator">bucketing or nnm, before a Gram-based rule.</param>
/// <param name="F">Assumed Byzantine count (krum, multi-krum, bulyan, nnm); trimmed per side (trimmed-mean).</param>
/// <param name="Rank">Target rank of flexlora.</param>
/// <param name="DenseRank">
/// The rank a coordinate-wise rule's dense result is written at (<see cref="DenseFactoring"/>): null, the largest client
/// rank of each module; 0, exactly (B = D, A = I at rank min(d_out, d_in)).
/// </param>
/// <param name="GlobalEnergy">
/// flora: truncate each module of the stack to the smallest rank keeping this fraction (0, 1] of its energy (FLoRIST);
/// null: exact (a module whose stacked rank exceeds min(d_out, d_in) is still written exactly at that rank).
/// </param>
public sealed record AggregatorOptions(
    string Strategy = "flora",
    string? Rule = null,
    string? PreAggregator = null,
    int F = 0,
    double? Tau = null,
    int? Rank = null,
    double? NormCap = null,
    long MaxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes,
    ScalarType? DType = null,
    int? DenseRank = null,
    double? GlobalEnergy = null)
{
    /// <param name="rootUpdate">fltrust: the server's own update on clean root data.</param>
    /// <exception cref="ArgumentException">An unknown name, or a combination that does not exist (e.g. a pre-aggregator without a Gram rule).</exception>
    /// <param name="combiner">Combines the factors instead of <see cref="Strategy"/>'s one-shot form (a federation's strategy across rounds).</param>
    /// <param name="expectedModules">The base model's target modules: updates are checked against them instead of against each other.</param>
    public Aggregator Build(LoraAdapter? rootUpdate = null, IAggregationStrategy? combiner = null, IReadOnlyList<ModuleShape>? expectedModules = null)
    {
        var limits = new HygieneLimits(NormCap, expectedModules);
        if (Rule is not null && RobustRules.CoordinateWiseNames.Contains(Rule.ToLowerInvariant()))
        {
            if (PreAggregator is not null) throw new ArgumentException($"a pre-aggregator works with the Gram-based rules, not {Rule}");
            if (GlobalEnergy is not null) throw new ArgumentException($"the energy threshold truncates a FLoRA stack; {Rule}'s dense result is written at the rank --dense-rank gives");
            return new Aggregator(RobustRules.CreateCoordinateWise(Rule, F, MaxDenseBytes), limits, new DenseFactoring(DenseRank));
        }
        var robust = Rule is not null ? RobustRules.Create(Rule, F, Tau, rootUpdate) : null;
        if (PreAggregator is not null)
            robust = RobustRules.WithPreAggregator(PreAggregator, robust ?? throw new ArgumentException("a pre-aggregator needs a rule to run after it"), F);
        return new Aggregator(combiner ?? AggregationStrategies.Create(Strategy, Rank, DType, GlobalEnergy), robust, limits);
    }
}
