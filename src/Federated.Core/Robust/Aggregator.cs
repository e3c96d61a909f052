using System.Runtime.ExceptionServices;
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
/// <para>
/// Module-sharded (<see cref="AggregateAsync"/>): everything but the per-module work is decided here, once, from what the
/// shards report: the layout checks from the headers, the value checks from the shards' scans, a rule's coefficients from
/// the Gram summed over the shards. Each <see cref="IModuleShard"/> reads and combines only its modules
/// (<see cref="ScanShard"/>, <see cref="CombineShard"/>); the in-process <see cref="Aggregate"/> is the same code with one
/// shard holding every module.
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

    /// <summary>A Gram over all modules is needed before any module is combined: a Gram-based rule's coefficients, or Bulyan's selection.</summary>
    bool NeedsGram => _coordinateRule is Bulyan || (_coordinateRule is null && rule is not null);

    public AggregationResult Aggregate(IReadOnlyList<ClientUpdate> updates)
    {
        if (updates.Count == 0) throw new IncompatibleAdaptersException("nothing to aggregate: no updates");
        var headers = updates.Select(u => new UpdateHeader(u.ClientId, u.ExampleCount, u.AllowedRank, ModuleHeader.Of(u.Adapter))).ToList();
        // The shard completes synchronously: it works on adapters already in memory.
        return AggregateAsync(headers, [new InMemoryShard(this, updates.Select(u => u.Adapter).ToList())]).GetAwaiter().GetResult();
    }

    /// <summary>
    /// The aggregation of <paramref name="updates"/> (headers; their factors stay with the shards), over module shards that
    /// together hold every module once, in the order of the first update the layout checks admit.
    /// </summary>
    public async Task<AggregationResult> AggregateAsync(IReadOnlyList<UpdateHeader> updates, IReadOnlyList<IModuleShard> shards, CancellationToken cancellationToken = default)
    {
        if (updates.Count == 0) throw new IncompatibleAdaptersException("nothing to aggregate: no updates");
        if (shards.Count == 0) throw new ArgumentException("no module shards", nameof(shards));
        var rejections = UpdateHygiene.CheckLayout(updates.Select(u => u.Modules).ToList(), updates.Select(u => u.AllowedRank).ToList(), _limits);
        var candidates = Enumerable.Range(0, updates.Count).Where(k => rejections[k] is null).ToList();
        if (candidates.Count == 0) throw EveryUpdateRejected(updates, rejections);

        var modules = updates[candidates[0]].Modules.Select(m => m.Name).ToList();
        var accepted = candidates;
        while (true)
        {
            var scan = new UpdateScan(modules, accepted.Count);
            Combined? combined = null;
            ExceptionDispatchInfo? failure = null;
            try { combined = await CombineAsync(updates, accepted, shards, scan, rejections, cancellationToken); }
            catch (Exception e) when (e is not OperationCanceledException) { failure = ExceptionDispatchInfo.Capture(e); }
            // A rule may fail on a NaN it was never meant to see: then the values decide (the shards scan every factor).
            if (failure is not null && accepted.All(k => rejections[k] is null)) await ScanOnlyAsync(shards, accepted, scan, rejections, cancellationToken);
            // A shard that could not read an update (or refused it) leaves the pass incomplete: again without it.
            bool refused = accepted.Any(k => rejections[k] is not null);
            bool valid = !refused && CheckValues(updates, accepted, scan, rejections);
            if (failure is not null && valid) failure.Throw();
            if (combined is not null && valid) return Result(updates, accepted, combined, scan, rejections);
            if (combined is null && failure is null && !refused) throw new InvalidOperationException("a module shard returned no part and refused no update");
            combined?.Global.Dispose();
            accepted = accepted.Where(k => rejections[k] is null).ToList();
            if (accepted.Count == 0) throw EveryUpdateRejected(updates, rejections);
        }
    }

    /// <summary>Finite values and the norm cap for each chosen update (entry j of the scan for chosen[j]); true when all pass.</summary>
    bool CheckValues(IReadOnlyList<UpdateHeader> updates, List<int> chosen, UpdateScan scan, Rejection?[] rejections)
    {
        for (int j = 0; j < chosen.Count; j++)
            rejections[chosen[j]] = UpdateHygiene.CheckValues(scan, j, updates[chosen[j]].Modules.Select(m => m.Name).ToList(), _limits.NormCap);
        return chosen.All(k => rejections[k] is null);
    }

    AggregationResult Result(IReadOnlyList<UpdateHeader> updates, List<int> accepted, Combined combined, UpdateScan scan, Rejection?[] rejections)
    {
        var outcomes = updates.Select((u, k) =>
        {
            int position = accepted.IndexOf(k);
            if (position < 0)
                return new ClientOutcome(u.ClientId, u.ExampleCount, false, 0, 0, null, rejections[k]!.Reason, rejections[k]!.Message);
            double norm = combined.Gram is { } gram ? Math.Sqrt(gram.SquaredNorm(position)) : scan.Norm(position);
            return new ClientOutcome(u.ClientId, u.ExampleCount, true, combined.Weights[position], combined.Coefficients[position], norm, null, null);
        }).ToList();
        var (name, exact) = _coordinateRule is null ? (_strategy.Name, _strategy.IsExact) : ("dense", combined.Factoring!.All(m => m.RelativeError == 0));
        return new AggregationResult(combined.Global, new AggregationReport(name, exact, _coordinateRule?.Name ?? rule?.Name,
            accepted.Count, updates.Count - accepted.Count, outcomes, combined.Factoring));
    }

    /// <summary>What the chosen updates combine to. A coordinate-wise rule's coefficients are 1 for an update it used, else 0.</summary>
    sealed record Combined(LoraAdapter Global, double[] Weights, double[] Coefficients, UpdateGram? Gram, IReadOnlyList<ModuleFactoring>? Factoring = null);

    /// <param name="scan">Filled from the shards' scans (entry j for chosen[j]).</param>
    /// <param name="rejections">Where a shard's refusal of an update (unreadable, or inadmissible values) is recorded.</param>
    /// <returns>Null when a shard refused an update.</returns>
    async Task<Combined?> CombineAsync(IReadOnlyList<UpdateHeader> updates, List<int> chosen, IReadOnlyList<IModuleShard> shards, UpdateScan scan,
        Rejection?[] rejections, CancellationToken cancellationToken)
    {
        var weights = ClientWeights.FromExampleCounts(chosen.Select(k => updates[k].ExampleCount).ToList());
        UpdateGram? gram = null;
        double[] coefficients = weights;
        bool scanned = false;
        if (NeedsGram)
        {
            var scans = await Task.WhenAll(shards.Select(s => s.ScanAsync(chosen, gram: true, cancellationToken)));
            if (!Record(scans, chosen, scan, rejections)) return null;
            gram = Sum(scans.Select(s => s.Gram!).ToList(), chosen.Count + (rule is IReferenceRule ? 1 : 0));
            coefficients = _coordinateRule is Bulyan bulyan ? bulyan.Choose(gram).Select(u => u ? 1.0 : 0.0).ToArray() : rule!.Weigh(gram, weights);
            scanned = true;
        }
        else if (_coordinateRule is not null)
            coefficients = Enumerable.Repeat(1.0, chosen.Count).ToArray();

        var parts = await Task.WhenAll(shards.Select(s => s.CombineAsync(chosen, coefficients, withScan: !scanned, cancellationToken)));
        if (!Record(parts.Select(p => p.Scan).ToList(), chosen, scanned ? null : scan, rejections) || parts.Any(p => p.Global is null))
        {
            foreach (var p in parts) p.Global?.Dispose();
            return null;
        }
        var global = new LoraAdapter(parts.SelectMany(p => p.Global!.Modules), parts[0].Global!.BaseModel);
        var factoring = parts.All(p => p.Factoring is null) ? null : parts.SelectMany(p => p.Factoring ?? []).ToList();
        return new Combined(global, weights, coefficients, gram, factoring);
    }

    /// <summary>Only the checks: after a rule failed, the values of every chosen update decide what was wrong.</summary>
    static async Task ScanOnlyAsync(IReadOnlyList<IModuleShard> shards, List<int> chosen, UpdateScan scan, Rejection?[] rejections, CancellationToken cancellationToken) =>
        Record(await Task.WhenAll(shards.Select(s => s.ScanAsync(chosen, gram: false, cancellationToken))), chosen, scan, rejections);

    /// <returns>False when a shard refused an update (recorded in <paramref name="rejections"/>).</returns>
    static bool Record(IReadOnlyList<ShardScan> scans, List<int> chosen, UpdateScan? scan, Rejection?[] rejections)
    {
        bool complete = true;
        foreach (var s in scans)
        {
            foreach (var (position, message) in s.Refusals)
            {
                rejections[chosen[position]] ??= new(RejectionReason.Inadmissible, message);
                complete = false;
            }
            if (scan is null) continue;
            foreach (var (module, checks) in s.Checks) scan.Record(module, checks);
        }
        return complete;
    }

    static UpdateGram Sum(IReadOnlyList<double[,]> parts, int count)
    {
        var total = new double[count, count];
        foreach (var part in parts)
            for (int i = 0; i < count; i++)
                for (int j = 0; j < count; j++) total[i, j] += part[i, j];
        return new UpdateGram(total);
    }

    /// <summary>
    /// A shard's first phase on the chosen updates' factors of its modules: every factor's check, and with
    /// <paramref name="gram"/> (when <see cref="NeedsGram"/>) the Gram over these modules (a reference rule's reference last).
    /// </summary>
    public ShardScan ScanShard(IReadOnlyList<LoraAdapter> chosen, bool gram)
    {
        var names = chosen[0].Modules.Select(m => m.Name).ToList();
        var scan = new UpdateScan(names, chosen.Count);
        double[,]? partial = null;
        if (gram && NeedsGram)
        {
            var rows = rule is IReferenceRule r ? [.. chosen, Restrict(r.Reference, names)] : chosen;
            var g = UpdateGram.Compute(rows, scan: scan);
            partial = new double[g.Count, g.Count];
            for (int i = 0; i < g.Count; i++)
                for (int j = 0; j < g.Count; j++) partial[i, j] = g[i, j];
        }
        return new ShardScan(partial, Checks(scan, names, chosen), []);
    }

    /// <summary>A shard's part of the global: its modules combined with the coefficients decided from all of them (for a coordinate-wise rule, 1 marks an update it uses).</summary>
    /// <param name="withScan">Return every factor's check (when no first phase checked them).</param>
    public ShardPart CombineShard(IReadOnlyList<LoraAdapter> chosen, IReadOnlyList<double> coefficients, bool withScan)
    {
        var names = chosen[0].Modules.Select(m => m.Name).ToList();
        var scan = withScan ? new UpdateScan(names, chosen.Count) : null;
        if (_coordinateRule is null)
        {
            // A strategy that re-factors modules (FLoRA's bound or truncation) reports how.
            var (global, refactored) = _strategy is IFactoringStrategy f ? f.AggregateWithFactoring(chosen, coefficients, scan) : (_strategy.Aggregate(chosen, coefficients, scan), null);
            return new ShardPart(global, refactored, new ShardScan(null, scan is null ? [] : Checks(scan, names, chosen), []));
        }
        var used = Enumerable.Range(0, chosen.Count).Where(k => coefficients[k] != 0).ToArray();
        var columns = ModuleAlignment.Align(used.Select(k => chosen[k]).ToList());
        var modules = new List<LoraModule>(columns.Count);
        var reports = new List<ModuleFactoring>(columns.Count);
        try
        {
            // Module by module: one module's dense result (and its factoring's work) at a time, whatever the shard's size.
            for (int c = 0; c < columns.Count; c++)
            {
                using var dense = _coordinateRule.CombineModule(columns[c], scan is null ? default : scan.Column(c).Of(used));
                var (module, report) = _factoring.Factor(columns[c][0], columns[c].Max(m => m.Rank), dense);
                modules.Add(module);
                reports.Add(report);
            }
            return new ShardPart(new LoraAdapter(modules, chosen[0].BaseModel), reports, new ShardScan(null, scan is null ? [] : Checks(scan, names, chosen), []));
        }
        catch
        {
            foreach (var m in modules) m.Dispose();
            throw;
        }
    }

    /// <summary>Every factor's check, scanning what the work did not read (a left-out update, a rule that stopped early).</summary>
    static Dictionary<string, FactorCheck?[]> Checks(UpdateScan scan, IReadOnlyList<string> names, IReadOnlyList<LoraAdapter> chosen)
    {
        for (int j = 0; j < chosen.Count; j++) scan.Complete(j, chosen[j]);
        var checks = new Dictionary<string, FactorCheck?[]>(names.Count, StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++) checks.TryAdd(names[i], scan.Checks(i));
        return checks;
    }

    /// <summary>The named modules of <paramref name="adapter"/>, sharing its tensors (not to be disposed).</summary>
    internal static LoraAdapter Restrict(LoraAdapter adapter, IReadOnlyList<string> names) =>
        names.Count == adapter.Modules.Count ? adapter : new LoraAdapter(names.Select(n => adapter[n]), adapter.BaseModel);

    static IncompatibleAdaptersException EveryUpdateRejected(IReadOnlyList<UpdateHeader> updates, Rejection?[] rejections) =>
        new($"every update was rejected; first: {updates[0].ClientId}: {rejections[0]!.Message}");
}
