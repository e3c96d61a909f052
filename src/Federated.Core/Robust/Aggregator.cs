using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Robust;

/// <summary>One client's contribution to a round.</summary>
/// <param name="AllowedRank">The rank the client was assigned; a higher-rank update is rejected.</param>
public sealed record ClientUpdate(string ClientId, LoraAdapter Adapter, long ExampleCount = 1, int? AllowedRank = null);

/// <summary>What happened to one client's update.</summary>
/// <param name="Weight">p_k from example counts over the accepted updates (0 when rejected).</param>
/// <param name="Coefficient">
/// gamma_k: how much the update counts in the aggregate after the robust rule. A coordinate-wise rule's
/// result is no weighted sum: there 1 marks an update the rule used and 0 one it left out.
/// </param>
public sealed record ClientOutcome(string ClientId, long ExampleCount, bool Accepted, double Weight, double Coefficient,
    double? Norm, RejectionReason? Rejection, string? RejectionMessage);

/// <param name="Exact">The global dW equals sum_k gamma_k dW_k exactly (the strategy is exact).</param>
public sealed record AggregationReport(string Strategy, bool Exact, string? Rule, int Accepted, int Rejected, IReadOnlyList<ClientOutcome> Clients);

/// <summary>The global adapter and how it came about. Owns the adapter.</summary>
public sealed class AggregationResult(LoraAdapter global, AggregationReport report) : IDisposable
{
    public LoraAdapter Global { get; } = global;
    public AggregationReport Report { get; } = report;
    public void Dispose() => Global.Dispose();
}

/// <summary>
/// The aggregation a round runs: hygiene, then a robust rule (optional) that turns the accepted
/// updates' Gram matrix into coefficients, then a heterogeneous-rank strategy that combines the factors
/// with those coefficients. With FLoRA stacking (the default) the result is exactly sum_k gamma_k dW_k.
/// </summary>
public sealed class Aggregator(IAggregationStrategy? strategy = null, IRobustRule? rule = null, HygieneLimits? limits = null)
{
    readonly IAggregationStrategy _strategy = strategy ?? new FloraStacking();
    readonly CoordinateWiseRule? _coordinateRule;

    /// <summary>Hygiene, then a coordinate-wise rule on the accepted updates' dense deltas.</summary>
    public Aggregator(CoordinateWiseRule rule, HygieneLimits? limits = null) : this(null, null, limits) => _coordinateRule = rule;

    public AggregationResult Aggregate(IReadOnlyList<ClientUpdate> updates)
    {
        if (updates.Count == 0) throw new IncompatibleAdaptersException("nothing to aggregate: no updates");
        var rejections = UpdateHygiene.Check(updates.Select(u => u.Adapter).ToList(), updates.Select(u => u.AllowedRank).ToList(), limits ?? new());
        var accepted = Enumerable.Range(0, updates.Count).Where(k => rejections[k] is null).ToList();
        if (accepted.Count == 0)
            throw new IncompatibleAdaptersException($"every update was rejected; first: {updates[0].ClientId}: {rejections[0]!.Message}");

        var adapters = accepted.Select(k => updates[k].Adapter).ToList();
        var weights = ClientWeights.FromExampleCounts(accepted.Select(k => updates[k].ExampleCount).ToList());
        if (_coordinateRule is not null)
            return AggregateCoordinateWise(updates, accepted, adapters, weights, rejections);

        // A reference rule (FLTrust) sees the reference update as one more row of the Gram.
        var gram = rule switch
        {
            null => null,
            IReferenceRule r => UpdateGram.Compute([.. adapters, r.Reference]),
            _ => UpdateGram.Compute(adapters),
        };
        var coefficients = rule is null ? weights : rule.Weigh(gram!, weights);
        var global = _strategy.Aggregate(adapters, coefficients);

        var outcomes = updates.Select((u, k) =>
        {
            int position = accepted.IndexOf(k);
            if (position < 0)
                return new ClientOutcome(u.ClientId, u.ExampleCount, false, 0, 0, null, rejections[k]!.Reason, rejections[k]!.Message);
            double norm = gram is null ? LoraNorms.Frobenius(u.Adapter) : Math.Sqrt(gram.SquaredNorm(position));
            return new ClientOutcome(u.ClientId, u.ExampleCount, true, weights[position], coefficients[position], norm, null, null);
        }).ToList();
        return new AggregationResult(global, new AggregationReport(_strategy.Name, _strategy.IsExact, rule?.Name, accepted.Count, updates.Count - accepted.Count, outcomes));
    }

    AggregationResult AggregateCoordinateWise(IReadOnlyList<ClientUpdate> updates, List<int> accepted, List<LoraAdapter> adapters,
        double[] weights, Rejection?[] rejections)
    {
        var (global, used) = _coordinateRule!.Aggregate(adapters);
        var outcomes = updates.Select((u, k) =>
        {
            int position = accepted.IndexOf(k);
            return position < 0
                ? new ClientOutcome(u.ClientId, u.ExampleCount, false, 0, 0, null, rejections[k]!.Reason, rejections[k]!.Message)
                : new ClientOutcome(u.ClientId, u.ExampleCount, true, weights[position], used[position] ? 1 : 0, LoraNorms.Frobenius(u.Adapter), null, null);
        }).ToList();
        return new AggregationResult(global, new AggregationReport("dense", true, _coordinateRule.Name, accepted.Count, updates.Count - accepted.Count, outcomes));
    }
}
