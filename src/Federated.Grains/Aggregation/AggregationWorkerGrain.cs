using System.Diagnostics;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Export;
using Federated.Core.Federation;
using Federated.Core.Formats;
using Federated.Core.Robust;
using Federated.Core.Runtime;
using Federated.Grains.Federations;
using Orleans.Concurrency;

namespace Federated.Grains.Aggregation;

/// <summary>
/// Runs a round's aggregation and forms the federation's next model. It reads each update's header alone and admits it
/// (<see cref="UpdateAdmission"/>, against the base model's manifest); then Federated.Core's <see cref="Aggregator"/>
/// decides, from what module shards report, which updates pass and with what coefficients, while the shards
/// (<see cref="AggregationShardGrain"/>, spread over the silos by Orleans) read and combine the modules: no silo holds
/// more than a few modules of the round's updates. The round's aggregate joins the history, or becomes the live adapter
/// with each rank's init. An update that cannot be read or admitted is rejected with its reason; the others still aggregate.
/// </summary>
[StatelessWorker]
public sealed class AggregationWorkerGrain(IContentStore store, CoordinatorMetrics metrics) : Grain, IAggregationWorkerGrain
{
    /// <summary>
    /// Headers read from the store at once. All of a 200-client round at once (2,400 pipelined GETs, 870 MB) left the last
    /// ones waiting past StackExchange.Redis's 5 s timeout, so the aggregation failed every attempt; a few at a time keep
    /// the link busy without queueing. The shards read their modules the same way.
    /// </summary>
    internal const int ConcurrentReads = 8;

    /// <summary>Module shards per silo: two keep a silo's cores busy while one waits on reads, and hold two modules of K updates at a time.</summary>
    const int ShardsPerSilo = 2;

    public async Task<AggregationOutcome> AggregateAsync(AggregationJob job)
    {
        long started = Stopwatch.GetTimestamp();
        var strategy = FederatedStrategies.Get(job.Settings.Strategy);
        var headers = await ReadHeadersAsync(job);
        var admitted = Enumerable.Range(0, headers.Length).Where(k => headers[k].Header is not null).ToArray();
        if (admitted.Length == 0)
            return new AggregationOutcome(null, Outcomes(job, headers, null), Elapsed(started), $"no update could be used; first: {job.Updates[0].ClientId}: {headers[0].Error}");

        var aggregator = Aggregator(job, strategy);
        var modules = headers[admitted[0]].Header!.Modules.Select(m => m.Name).ToArray();
        var silos = (await GrainFactory.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count;
        int count = Math.Clamp(ShardsPerSilo * silos, 1, modules.Length);
        var shards = Enumerable.Range(0, count).Select(i => (IModuleShard)new GrainModuleShard(GrainFactory, store, job, admitted,
            modules[(i * modules.Length / count)..((i + 1) * modules.Length / count)], i)).ToArray();
        AggregationResult result;
        try
        {
            result = await aggregator.AggregateAsync(admitted.Select(k => headers[k].Header!).ToList(), shards);
        }
        // Deterministic refusals (incompatible updates, a rule that needs more clients than arrived): retrying
        // cannot help, so the round fails with the reason instead.
        catch (Exception e) when (e is AdapterException or RobustRuleException or ArgumentException)
        {
            foreach (var k in admitted) headers[k] = (null, $"not aggregated: {e.Message}");
            return new AggregationOutcome(null, Outcomes(job, headers, null), Elapsed(started), e.Message);
        }
        var outcomes = Outcomes(job, headers, admitted.Zip(result.Report.Clients).ToDictionary(p => p.First, p => p.Second));
        double? factoringError = result.Report.Factoring is null ? null : result.Report.MaxFactoringError;
        var (stored, model, compactionError) = await NextModelAsync(job, strategy, result.Global);
        return new AggregationOutcome(stored, outcomes, Elapsed(started), null, model, compactionError, factoringError);
    }

    /// <summary>Each update's header, admitted as the upload path admitted it (against the base model's manifest), or why not.</summary>
    async Task<(UpdateHeader? Header, string? Error)[]> ReadHeadersAsync(AggregationJob job)
    {
        var headers = new (UpdateHeader? Header, string? Error)[job.Updates.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, headers.Length), new ParallelOptions { MaxDegreeOfParallelism = ConcurrentReads }, async (k, _) =>
        {
            var u = job.Updates[k];
            AdapterDescription description;
            try { description = await PayloadModules.DescribeAsync(store, u.Update, $"update {u.Update}"); }
            catch (AdapterFormatException e) { headers[k] = (null, $"malformed: {e.Message}"); return; }
            catch (ContentStoreException e) { headers[k] = (null, e.Message); return; }
            var refusal = UpdateAdmission.Check(description, declaredRank: null,
                BaseModelManifest.Admission(job.BaseModel, job.TargetModules, job.Model?.Architecture, u.AllowedRank));
            headers[k] = refusal is null
                ? (new UpdateHeader(u.ClientId, u.ExampleCount, u.AllowedRank, description.Modules.Select(m => m.Header).ToList()), null)
                : (null, refusal.Message);
        });
        return headers;
    }

    static ClientOutcomeView[] Outcomes(AggregationJob job, (UpdateHeader? Header, string? Error)[] headers, Dictionary<int, ClientOutcome>? aggregated) =>
        job.Updates.Select((u, k) => aggregated?.GetValueOrDefault(k) is { } c
            ? new ClientOutcomeView(c.ClientId, c.Accepted, c.Weight, c.Coefficient, c.Norm, c.RejectionMessage, c.ExampleCount)
            : new ClientOutcomeView(u.ClientId, false, 0, 0, null, headers[k].Error, u.ExampleCount)).ToArray();

    /// <summary>The round's aggregation, as its settings and the base model's manifest define it (the same in every shard).</summary>
    internal static Aggregator Aggregator(AggregationJob job, FederatedStrategy strategy)
    {
        var s = job.Settings;
        return new AggregatorOptions(s.Strategy, s.Rule, s.PreAggregator, s.ByzantineCount, s.Tau, s.OutputRank, s.NormCap)
            .Build(combiner: strategy.Combiner(globalEnergy: s.GlobalEnergy), expectedModules: BaseModelManifest.ModuleShapes(job.Model?.Architecture, job.TargetModules));
    }

    public async Task<FederationModel> InitializeAsync(ModelJob job)
    {
        var strategy = FederatedStrategies.Get(job.Strategy);
        var shapes = BaseModelManifest.ModuleShapes(job.Architecture, job.TargetModules);
        int rank = job.Ranks.Max();
        using var live = shapes is null ? null : await Compute(() => strategy.InitialLive(shapes, rank, job.AlphaPerRank * rank, job.Seed, job.BaseModel));
        if (live is null) return FederationModel.Empty;
        var storedLive = await PutAsync(live);
        return new FederationModel([], storedLive, await InitsAsync(job, strategy, live, storedLive));
    }

    /// <summary>The math on the thread pool, inside a <see cref="NativeWork"/> scope (a simulator trains clients beside it).</summary>
    internal static Task<T> Compute<T>(Func<T> work) => Task.Run(() =>
    {
        using (NativeWork.Enter()) return work();
    });

    TimeSpan Elapsed(long started)
    {
        var duration = Stopwatch.GetElapsedTime(started);
        metrics.AggregationFinished(duration);
        return duration;
    }

    public async Task<StoredUpdate> ExportAsync(ExportJob job) => (await ExportAndReportAsync(job)).Payload;

    async Task<(StoredUpdate Payload, ExportReport Report)> ExportAndReportAsync(ExportJob job)
    {
        var deltas = new List<LoraAdapter>();
        try
        {
            foreach (var d in job.Deltas) deltas.Add(await PayloadModules.ReadAllAsync(store, d, $"model delta {d}"));
            LoraAdapter adapter;
            ExportReport report;
            // A bound no allowed rank meets is the caller's to change: it crosses the grain call as an ArgumentException.
            try { (adapter, report) = await Compute(() => Export(deltas, job.Rank, job.MaxError, job.BaseModel)); }
            catch (AdapterException e) { throw new ArgumentException(e.Message); }
            using (adapter) return (await PayloadModules.PutAsync(store, stream => ExportFiles.WritePayload(stream, adapter, report)), report);
        }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
    }

    static (LoraAdapter Adapter, ExportReport Report) Export(IReadOnlyList<LoraAdapter> deltas, int? rank, double? maxError, string baseModel) =>
        rank is { } r ? CumulativeExport.Truncated(deltas, r, baseModel)
        : maxError is { } e ? CumulativeExport.ForVllm(deltas, e, baseModel)
        : (CumulativeExport.Exact(deltas, baseModel), CumulativeExport.ExactReport(deltas));

    /// <summary>Flora: the stack joins the history (re-factored when due). Otherwise: the next live adapter, and what each rank continues from.</summary>
    async Task<(StoredUpdate Global, FederationModel? Model, double? CompactionError)> NextModelAsync(AggregationJob job, FederatedStrategy strategy, LoraAdapter aggregate)
    {
        if (job.Model is not { } m)
        {
            using (aggregate) return (await PutAsync(aggregate), null, null);
        }
        if (strategy.AccumulatesHistory)
        {
            StoredUpdate stored;
            using (aggregate) stored = await PutAsync(aggregate);
            RoundDelta[] history = [.. m.Model.History, new RoundDelta(job.Round, stored)];
            double? error = null;
            if (m.Compaction is { } c && job.Round % c.EveryRounds == 0 && history.Length > 1)
            {
                try
                {
                    var (compacted, report) = await ExportAndReportAsync(new ExportJob(job.BaseModel, history.Select(h => h.Adapter).ToArray(), c.Rank,
                        c.MaxError ?? (c.Rank is null ? 0.01 : null)));
                    error = report.MaxRelativeError;
                    history = [new RoundDelta(job.Round, compacted)];
                }
                catch (ArgumentException) { } // no rank meets the bound: the history stays exact, and the next due round tries again
            }
            return (stored, m.Model with { History = history, Live = null, Inits = [] }, error);
        }
        using var previous = m.Model.Live is { } liveRef ? await PayloadModules.ReadAllAsync(store, liveRef, $"live adapter {liveRef}") : null;
        using var live = await Compute(() => strategy.NextLive(previous, aggregate));
        var storedLive = await PutAsync(live);
        return (storedLive, m.Model with { Live = storedLive, Inits = await InitsAsync(m, strategy, live, storedLive) }, null);
    }

    /// <summary>
    /// Each rank's init; one that is the live adapter itself (a client at the live adapter's rank, as every client is when the
    /// federation has one rank) is that stored payload, not the same gigabytes written again.
    /// </summary>
    async Task<RankedAdapter[]> InitsAsync(ModelJob job, FederatedStrategy strategy, LoraAdapter live, StoredUpdate storedLive)
    {
        var inits = new List<RankedAdapter>();
        foreach (int rank in job.Ranks)
        {
            using var init = await Compute(() => strategy.ClientInit(live, rank, job.AlphaPerRank * rank));
            if (init is not null) inits.Add(new RankedAdapter(rank, init.SameAs(live) ? storedLive : await PutAsync(init)));
        }
        return [.. inits];
    }

    Task<StoredUpdate> PutAsync(LoraAdapter adapter) => PayloadModules.PutAsync(store, adapter);
}
