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
/// Loads a round's updates from the store, admits them (<see cref="UpdateAdmission"/>, against the base model's manifest),
/// runs Federated.Core's <see cref="Aggregator"/> with the federation's strategy, and forms the federation's next model:
/// the round's aggregate joins the history, or becomes the live adapter with each rank's init. The math runs on the
/// thread pool, not on the silo's scheduler threads. An update that cannot be loaded or admitted is rejected with its
/// reason; the others still aggregate.
/// </summary>
[StatelessWorker]
public sealed class AggregationWorkerGrain(IContentStore store, CoordinatorMetrics metrics) : Grain, IAggregationWorkerGrain
{
    /// <summary>
    /// Updates read from the store at once. All of a 200-client round at once (2,400 pipelined GETs, 870 MB) left the last
    /// ones waiting past StackExchange.Redis's 5 s timeout, so the aggregation failed every attempt; a few at a time keep
    /// the link busy without queueing.
    /// </summary>
    const int ConcurrentReads = 8;

    public async Task<AggregationOutcome> AggregateAsync(AggregationJob job)
    {
        long started = Stopwatch.GetTimestamp();
        var strategy = FederatedStrategies.Get(job.Settings.Strategy);
        var inits = strategy.FreezesA ? await LoadDistinctAsync(job.Updates.Select(u => u.Init)) : [];
        var admitted = new (LoraAdapter? Adapter, string? Error)[job.Updates.Length];
        try
        {
            // Each update is parsed and admitted as soon as it is read, so its bytes are garbage before the next read:
            // the round holds the updates once (as tensors), not twice.
            await Parallel.ForEachAsync(Enumerable.Range(0, admitted.Length), new ParallelOptions { MaxDegreeOfParallelism = ConcurrentReads },
                async (k, _) => admitted[k] = await LoadAndAdmitAsync(job, job.Updates[k], strategy, inits));
            var (global, outcomes, failure, factoringError) = await Compute(() => Aggregate(job, strategy, admitted));
            Release(admitted); // the updates are done with: storing the global and forming the model need only it
            if (global is null)
                return new AggregationOutcome(null, outcomes, Elapsed(started), failure);
            var (stored, model, compactionError) = await NextModelAsync(job, strategy, global);
            return new AggregationOutcome(stored, outcomes, Elapsed(started), null, model, compactionError, factoringError);
        }
        finally
        {
            Release(admitted);
            foreach (var init in inits.Values) init?.Dispose();
        }
    }

    static void Release((LoraAdapter? Adapter, string? Error)[] admitted)
    {
        for (int k = 0; k < admitted.Length; k++)
        {
            admitted[k].Adapter?.Dispose();
            admitted[k].Adapter = null;
        }
    }

    async Task<(LoraAdapter? Adapter, string? Error)> LoadAndAdmitAsync(AggregationJob job, JobUpdate update, FederatedStrategy strategy,
        Dictionary<StoredUpdate, LoraAdapter?> inits)
    {
        var (bytes, error) = await LoadAsync(update.Update);
        if (bytes is null) return (null, error);
        using (NativeWork.Enter()) return Admit(update, bytes, job, strategy, inits);
    }

    public async Task<FederationModel> InitializeAsync(ModelJob job)
    {
        var strategy = FederatedStrategies.Get(job.Strategy);
        var shapes = BaseModelManifest.ModuleShapes(job.Architecture, job.TargetModules);
        int rank = job.Ranks.Max();
        using var live = shapes is null ? null : await Compute(() => strategy.InitialLive(shapes, rank, job.AlphaPerRank * rank, job.Seed, job.BaseModel));
        if (live is null) return FederationModel.Empty;
        return new FederationModel([], await PutAsync(live), await InitsAsync(job, strategy, live));
    }

    /// <summary>The math on the thread pool, inside a <see cref="NativeWork"/> scope (a simulator trains clients beside it).</summary>
    static Task<T> Compute<T>(Func<T> work) => Task.Run(() =>
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
            foreach (var d in job.Deltas) deltas.Add(Read(await store.ReadAsync(d), $"model delta {d}"));
            LoraAdapter adapter;
            ExportReport report;
            // A bound no allowed rank meets is the caller's to change: it crosses the grain call as an ArgumentException.
            try { (adapter, report) = await Compute(() => Export(deltas, job.Rank, job.MaxError, job.BaseModel)); }
            catch (AdapterException e) { throw new ArgumentException(e.Message); }
            using (adapter)
            {
                using var payload = new MemoryStream();
                ExportFiles.WritePayload(payload, adapter, report);
                payload.Position = 0;
                return ((await store.PutAsync(payload)), report);
            }
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
        using var previous = m.Model.Live is { } liveRef ? Read(await store.ReadAsync(liveRef), $"live adapter {liveRef}") : null;
        using var live = await Compute(() => strategy.NextLive(previous, aggregate));
        var storedLive = await PutAsync(live);
        return (storedLive, m.Model with { Live = storedLive, Inits = await InitsAsync(m, strategy, live) }, null);
    }

    async Task<RankedAdapter[]> InitsAsync(ModelJob job, FederatedStrategy strategy, LoraAdapter live)
    {
        var inits = new List<RankedAdapter>();
        foreach (int rank in job.Ranks)
        {
            using var init = await Compute(() => strategy.ClientInit(live, rank, job.AlphaPerRank * rank));
            if (init is not null) inits.Add(new RankedAdapter(rank, await PutAsync(init)));
        }
        return [.. inits];
    }

    async Task<StoredUpdate> PutAsync(LoraAdapter adapter) =>
        (await store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(adapter), writable: false)));

    async Task<(byte[]? Bytes, string? Error)> LoadAsync(StoredUpdate update)
    {
        try
        {
            return (await store.ReadAsync(update), null);
        }
        catch (ContentStoreException e)
        {
            return (null, e.Message);
        }
    }

    /// <summary>The inits clients were handed (for the frozen-factor check), each read once.</summary>
    async Task<Dictionary<StoredUpdate, LoraAdapter?>> LoadDistinctAsync(IEnumerable<StoredUpdate?> references)
    {
        var loaded = new Dictionary<StoredUpdate, LoraAdapter?>();
        foreach (var reference in references.OfType<StoredUpdate>().Distinct())
        {
            var (bytes, _) = await LoadAsync(reference);
            loaded[reference] = bytes is null ? null : Read(bytes, $"init {reference}");
        }
        return loaded;
    }

    /// <summary>The math over the admitted updates (each an adapter, or why it was refused); the caller owns and disposes them.</summary>
    static (LoraAdapter? Global, ClientOutcomeView[] Outcomes, string? Failure, double? FactoringError) Aggregate(AggregationJob job, FederatedStrategy strategy,
        (LoraAdapter? Adapter, string? Error)[] admitted)
    {
        var outcomes = new ClientOutcomeView?[job.Updates.Length];
        var updates = new List<ClientUpdate>();
        var positions = new List<int>();
        var architecture = job.Model?.Architecture;
        for (int k = 0; k < job.Updates.Length; k++)
        {
            var u = job.Updates[k];
            if (admitted[k].Adapter is not { } adapter)
            {
                outcomes[k] = new ClientOutcomeView(u.ClientId, false, 0, 0, null, admitted[k].Error, u.ExampleCount);
                continue;
            }
            updates.Add(new ClientUpdate(u.ClientId, adapter, u.ExampleCount, u.AllowedRank));
            positions.Add(k);
        }
        if (updates.Count == 0)
            return (null, Complete(outcomes), $"no update could be used; first: {job.Updates[0].ClientId}: {outcomes[0]!.Rejection}", null);

        var s = job.Settings;
        AggregationResult result;
        try
        {
            result = new AggregatorOptions(s.Strategy, s.Rule, s.PreAggregator, s.ByzantineCount, s.Tau, s.OutputRank, s.NormCap)
                .Build(combiner: strategy.Combiner(globalEnergy: s.GlobalEnergy), expectedModules: BaseModelManifest.ModuleShapes(architecture, job.TargetModules))
                .Aggregate(updates);
        }
        // Deterministic refusals (incompatible updates, a rule that needs more clients than arrived): retrying
        // cannot help, so the round fails with the reason instead.
        catch (Exception e) when (e is AdapterException or RobustRuleException or ArgumentException)
        {
            foreach (var k in positions)
                outcomes[k] = new ClientOutcomeView(job.Updates[k].ClientId, false, 0, 0, null, $"not aggregated: {e.Message}", job.Updates[k].ExampleCount);
            return (null, Complete(outcomes), e.Message, null);
        }
        foreach (var (c, k) in result.Report.Clients.Zip(positions))
            outcomes[k] = new ClientOutcomeView(c.ClientId, c.Accepted, c.Weight, c.Coefficient, c.Norm, c.RejectionMessage, c.ExampleCount);
        return (result.Global, Complete(outcomes), null, result.Report.Factoring is null ? null : result.Report.MaxFactoringError);
    }

    /// <summary>Reads an update and runs the admission check the upload path ran on its header, now with its values.</summary>
    static (LoraAdapter? Adapter, string? Error) Admit(JobUpdate u, byte[] bytes, AggregationJob job, FederatedStrategy strategy,
        Dictionary<StoredUpdate, LoraAdapter?> inits)
    {
        LoraAdapter adapter;
        try
        {
            adapter = Read(bytes, $"update {u.Update}");
        }
        catch (AdapterFormatException e)
        {
            return (null, $"malformed: {e.Message}");
        }
        LoraAdapter? frozen = null;
        if (strategy.FreezesA && (u.Init is null || !inits.TryGetValue(u.Init, out frozen) || frozen is null))
        {
            adapter.Dispose();
            return (null, $"the frozen A this client was handed ({u.Init?.ToString() ?? "none"}) cannot be read");
        }
        var refusal = UpdateAdmission.Check(adapter, declaredRank: null,
            BaseModelManifest.Admission(job.BaseModel, job.TargetModules, job.Model?.Architecture, u.AllowedRank, frozen));
        if (refusal is null) return (adapter, null);
        adapter.Dispose();
        return (null, refusal.Message);
    }

    static LoraAdapter Read(byte[] bytes, string source) => AdapterPayload.Read(bytes, source);

    static ClientOutcomeView[] Complete(ClientOutcomeView?[] outcomes) => outcomes.Select(o => o!).ToArray();
}
