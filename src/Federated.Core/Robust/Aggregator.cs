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

/// <param name="Exact">The global dW equals sum_k gamma_k dW_k exactly (the strategy is exact); for a coordinate-wise rule, the rule's dense result exactly.</param>
/// <param name="Factoring">
/// Per module written at another rank than its inputs give, that rank and the relative error: a coordinate-wise rule's dense
/// result, or a FLoRA stack bounded by the module's dimensions (error 0) or truncated by energy; null when none was.
/// </param>
public sealed record AggregationReport(string Strategy, bool Exact, string? Rule, int Accepted, int Rejected, IReadOnlyList<ClientOutcome> Clients,
    IReadOnlyList<ModuleFactoring>? Factoring = null)
{
    /// <summary>The largest relative Frobenius error of a re-factored module (0 when exact or none was re-factored).</summary>
    public double MaxFactoringError => Factoring is { Count: > 0 } f ? f.Max(m => m.RelativeError) : 0;
}

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
/// <para>
/// One pass over the bytes: the header checks run first; the value checks (finite, norm cap) and the reported norms come
/// from an <see cref="UpdateScan"/> filled while the first reader of the factors (the strategy without a rule, the Gram with
/// one, the coordinate-wise rule) does its own work. An update the scan rejects is rare, so the result is computed as if all
/// passed and computed again without the rejected updates when one does not.
/// </para>
/// </summary>
public sealed class Aggregator(IAggregationStrategy? strategy = null, IRobustRule? rule = null, HygieneLimits? limits = null)
{
    readonly IAggregationStrategy _strategy = strategy ?? new FloraStacking();
    readonly CoordinateWiseRule? _coordinateRule;
    readonly DenseFactoring _factoring = new();
    readonly HygieneLimits _limits = limits ?? new();

    /// <summary>Hygiene, then a coordinate-wise rule on the accepted updates' dense deltas, written by <paramref name="factoring"/> (default: truncated to the clients' rank).</summary>
    public Aggregator(CoordinateWiseRule rule, HygieneLimits? limits = null, DenseFactoring? factoring = null) : this(null, null, limits)
    {
        _coordinateRule = rule;
        _factoring = factoring ?? new();
    }

    public AggregationResult Aggregate(IReadOnlyList<ClientUpdate> updates)
    {
        if (updates.Count == 0) throw new IncompatibleAdaptersException("nothing to aggregate: no updates");
        var rejections = UpdateHygiene.CheckLayout(updates.Select(u => u.Adapter).ToList(), updates.Select(u => u.AllowedRank).ToList(), _limits);
        var candidates = Enumerable.Range(0, updates.Count).Where(k => rejections[k] is null).ToList();
        if (candidates.Count == 0) throw EveryUpdateRejected(updates, rejections);

        var adapters = candidates.Select(k => updates[k].Adapter).ToList();
        var scan = new UpdateScan(adapters[0].Modules.Select(m => m.Name).ToList(), adapters.Count);
        bool CheckValues()
        {
            for (int j = 0; j < candidates.Count; j++)
            {
                scan.Complete(j, adapters[j]);
                rejections[candidates[j]] = UpdateHygiene.CheckValues(scan, j, adapters[j], _limits.NormCap);
            }
            return candidates.All(k => rejections[k] is null);
        }

        Combined? combined = null;
        // A rule may fail on a NaN it was never meant to see: then the values decide.
        try { combined = Combine(updates, candidates, scan); }
        catch (Exception) when (!CheckValues()) { }
        var accepted = combined is not null && CheckValues() ? candidates : candidates.Where(k => rejections[k] is null).ToList();
        if (accepted.Count < candidates.Count)
        {
            combined?.Global.Dispose();
            if (accepted.Count == 0) throw EveryUpdateRejected(updates, rejections);
            combined = Combine(updates, accepted, scan: null);
        }

        var outcomes = updates.Select((u, k) =>
        {
            int position = accepted.IndexOf(k);
            if (position < 0)
                return new ClientOutcome(u.ClientId, u.ExampleCount, false, 0, 0, null, rejections[k]!.Reason, rejections[k]!.Message);
            double norm = combined!.Gram is { } gram ? Math.Sqrt(gram.SquaredNorm(position)) : scan.Norm(candidates.IndexOf(k));
            return new ClientOutcome(u.ClientId, u.ExampleCount, true, combined.Weights[position], combined.Coefficients[position], norm, null, null);
        }).ToList();
        var (name, exact) = _coordinateRule is null ? (_strategy.Name, _strategy.IsExact) : ("dense", combined!.Factoring!.All(m => m.RelativeError == 0));
        return new AggregationResult(combined!.Global, new AggregationReport(name, exact, _coordinateRule?.Name ?? rule?.Name,
            accepted.Count, updates.Count - accepted.Count, outcomes, combined.Factoring));
    }

    /// <summary>What the chosen updates combine to. A coordinate-wise rule's coefficients are 1 for an update it used, else 0.</summary>
    sealed record Combined(LoraAdapter Global, double[] Weights, double[] Coefficients, UpdateGram? Gram, IReadOnlyList<ModuleFactoring>? Factoring = null);

    /// <param name="scan">Filled as the factors are read (entry j for chosen[j]); null when the values are already checked.</param>
    Combined Combine(IReadOnlyList<ClientUpdate> updates, List<int> chosen, UpdateScan? scan)
    {
        var adapters = chosen.Select(k => updates[k].Adapter).ToList();
        var weights = ClientWeights.FromExampleCounts(chosen.Select(k => updates[k].ExampleCount).ToList());
        if (_coordinateRule is not null)
        {
            var (dense, used, factoring) = _coordinateRule.Aggregate(adapters, _factoring, scan);
            return new Combined(dense, weights, used.Select(u => u ? 1.0 : 0.0).ToArray(), null, factoring);
        }
        if (rule is null)
        {
            var (global, factoring) = Strategy(adapters, weights, scan);
            return new Combined(global, weights, weights, null, factoring);
        }

        // A reference rule (FLTrust) sees the reference update as one more row of the Gram.
        var gram = UpdateGram.Compute(rule is IReferenceRule r ? [.. adapters, r.Reference] : adapters, scan: scan);
        var coefficients = rule.Weigh(gram, weights);
        var (robust, refactored) = Strategy(adapters, coefficients, null);
        return new Combined(robust, weights, coefficients, gram, refactored);
    }

    /// <summary>The strategy's combination, and how it re-factored modules when it reports that (FLoRA's bound or truncation).</summary>
    (LoraAdapter, IReadOnlyList<ModuleFactoring>?) Strategy(List<LoraAdapter> adapters, IReadOnlyList<double> coefficients, UpdateScan? scan) =>
        _strategy is IFactoringStrategy f ? f.AggregateWithFactoring(adapters, coefficients, scan) : (_strategy.Aggregate(adapters, coefficients, scan), null);

    static IncompatibleAdaptersException EveryUpdateRejected(IReadOnlyList<ClientUpdate> updates, Rejection?[] rejections) =>
        new($"every update was rejected; first: {updates[0].ClientId}: {rejections[0]!.Message}");
}
