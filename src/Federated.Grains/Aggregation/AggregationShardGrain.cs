using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Federation;
using Federated.Core.Formats;
using Federated.Core.Robust;
using Federated.Grains.Federations;
using Orleans.Placement;

namespace Federated.Grains.Aggregation;

/// <summary>
/// A module shard of a round's aggregation (<see cref="IAggregationShardGrain"/>): module by module, it reads that module of
/// every chosen update (byte ranges, a few updates at a time), checks the frozen factor where the strategy freezes one, and
/// runs the <see cref="Aggregator"/>'s per-shard work on it. Memory is one module of K updates plus the shard's output,
/// whatever the updates' size. The activation ends with its call.
/// </summary>
[RandomPlacement]
public sealed class AggregationShardGrain(IContentStore store) : Grain, IAggregationShardGrain
{
    /// <summary>Metadata naming the call that stored a part (see <see cref="CombineAsync"/>).</summary>
    public const string PartMetadataKey = "federated.shard_part";

    public async Task<ShardScanView> ScanAsync(ShardJob job)
    {
        try
        {
            var (aggregator, inputs) = await PrepareAsync(job);
            using var inits = inputs.Inits;
            double[]? gram = null;
            int size = 0;
            var checks = new List<ModuleChecksView>();
            foreach (var module in job.Modules)
            {
                var (adapters, refusals) = await ReadModuleAsync(job, inputs, module);
                if (refusals.Length > 0) return new ShardScanView(null, 0, [], refusals);
                var scan = await AggregationWorkerGrain.Compute(() => { using (Release(adapters)) return aggregator.ScanShard(adapters, job.Gram); });
                if (scan.Gram is { } g)
                {
                    size = g.GetLength(0);
                    gram ??= new double[size * size];
                    for (int i = 0; i < size; i++)
                        for (int j = 0; j < size; j++) gram[i * size + j] += g[i, j];
                }
                checks.AddRange(Checks(scan));
            }
            return new ShardScanView(gram, size, [.. checks], []);
        }
        finally { DeactivateOnIdle(); }
    }

    public async Task<ShardPartView> CombineAsync(ShardJob job)
    {
        var modules = new List<LoraModule>();
        try
        {
            var (aggregator, inputs) = await PrepareAsync(job);
            using var inits = inputs.Inits;
            var factoring = new List<ModuleFactoringView>();
            var checks = new List<ModuleChecksView>();
            string? baseModel = null;
            bool reported = false;
            foreach (var module in job.Modules)
            {
                var (adapters, refusals) = await ReadModuleAsync(job, inputs, module);
                if (refusals.Length > 0) return new ShardPartView(null, null, new ShardScanView(null, 0, [], refusals));
                var part = await AggregationWorkerGrain.Compute(() => { using (Release(adapters)) return aggregator.CombineShard(adapters, job.Coefficients!, job.WithScan); });
                modules.AddRange(part.Global!.Modules);
                baseModel ??= part.Global.BaseModel;
                reported |= part.Factoring is not null;
                factoring.AddRange(part.Factoring?.Select(f => new ModuleFactoringView(f.Module, f.Rank, f.RelativeError)) ?? []);
                checks.AddRange(Checks(part.Scan));
            }
            using var global = new LoraAdapter(modules, baseModel);
            modules.Clear(); // owned by the adapter now
            // Marked as this call's, so its bytes are its own: the caller deletes it once read, which must not delete an equal payload.
            var stored = await PayloadModules.PutAsync(store, global, new Dictionary<string, string> { [PartMetadataKey] = this.GetPrimaryKeyString() });
            return new ShardPartView(stored, reported ? [.. factoring] : null, new ShardScanView(null, 0, [.. checks], []));
        }
        finally
        {
            foreach (var m in modules) m.Dispose();
            DeactivateOnIdle();
        }
    }

    /// <summary>The chosen updates' headers (read once per call) and the inits they were handed (where the strategy freezes A).</summary>
    sealed record Inputs(StoredUpdate[] Updates, AdapterDescription?[] Descriptions, ShardRefusal[] Refusals, LoraAdapter?[] Frozen, IDisposable Inits);

    async Task<(Aggregator Aggregator, Inputs Inputs)> PrepareAsync(ShardJob job)
    {
        var strategy = FederatedStrategies.Get(job.Job.Settings.Strategy);
        var chosen = job.Chosen.Select(k => job.Job.Updates[k]).ToArray();
        var descriptions = new AdapterDescription?[chosen.Length];
        var refusals = new ShardRefusal?[chosen.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, chosen.Length), new ParallelOptions { MaxDegreeOfParallelism = AggregationWorkerGrain.ConcurrentReads }, async (j, _) =>
        {
            try { descriptions[j] = await PayloadModules.DescribeAsync(store, chosen[j].Update, $"update {chosen[j].Update}"); }
            catch (Exception e) when (e is ContentStoreException or AdapterFormatException) { refusals[j] = new ShardRefusal(j, $"cannot be read: {e.Message}"); }
        });
        var inits = strategy.FreezesA ? await LoadDistinctAsync(chosen.Select(u => u.Init)) : [];
        var frozen = chosen.Select(u => u.Init is { } i ? inits.GetValueOrDefault(i) : null).ToArray();
        if (strategy.FreezesA)
            for (int j = 0; j < chosen.Length; j++)
                if (frozen[j] is null) refusals[j] ??= new ShardRefusal(j, $"the frozen A this client was handed ({chosen[j].Init?.ToString() ?? "none"}) cannot be read");
        var aggregator = AggregationWorkerGrain.Aggregator(job.Job, strategy);
        return (aggregator, new Inputs(chosen.Select(u => u.Update).ToArray(), descriptions, refusals.OfType<ShardRefusal>().ToArray(), frozen,
            new Disposables(inits.Values)));
    }

    /// <summary>The inits clients were handed (for the frozen-factor check), each read once; null where one cannot be read.</summary>
    async Task<Dictionary<StoredUpdate, LoraAdapter?>> LoadDistinctAsync(IEnumerable<StoredUpdate?> references)
    {
        var loaded = new Dictionary<StoredUpdate, LoraAdapter?>();
        foreach (var reference in references.OfType<StoredUpdate>().Distinct())
        {
            try { loaded[reference] = await PayloadModules.ReadAllAsync(store, reference, $"init {reference}"); }
            catch (Exception e) when (e is ContentStoreException or AdapterFormatException) { loaded[reference] = null; }
        }
        return loaded;
    }

    /// <summary>One module of every chosen update, or the updates refused (unreadable, or a frozen A that changed).</summary>
    async Task<(List<LoraAdapter> Adapters, ShardRefusal[] Refusals)> ReadModuleAsync(ShardJob job, Inputs inputs, string module)
    {
        if (inputs.Refusals.Length > 0) return ([], inputs.Refusals);
        var adapters = new LoraAdapter?[inputs.Updates.Length];
        var refusals = new ShardRefusal?[inputs.Updates.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, adapters.Length), new ParallelOptions { MaxDegreeOfParallelism = AggregationWorkerGrain.ConcurrentReads }, async (j, _) =>
        {
            try
            {
                var adapter = await PayloadModules.ReadAsync(store, inputs.Updates[j], inputs.Descriptions[j]!, [module], $"update {inputs.Updates[j]}");
                if (inputs.Frozen[j] is { } frozen && UpdateAdmission.CheckFrozen(adapter[module], frozen) is { } changed)
                {
                    adapter.Dispose();
                    refusals[j] = new ShardRefusal(j, changed.Message);
                }
                else adapters[j] = adapter;
            }
            catch (Exception e) when (e is ContentStoreException or AdapterFormatException or ArgumentException)
            {
                refusals[j] = new ShardRefusal(j, $"cannot be read: {e.Message}");
            }
        });
        if (refusals.Any(r => r is not null))
        {
            foreach (var a in adapters) a?.Dispose();
            return ([], refusals.OfType<ShardRefusal>().ToArray());
        }
        return (adapters.Select(a => a!).ToList(), []);
    }

    static IEnumerable<ModuleChecksView> Checks(ShardScan scan) =>
        scan.Checks.Select(c => new ModuleChecksView(c.Key, c.Value.Select(v => v is not null).ToArray(), c.Value.Select(v => v?.Finite ?? false).ToArray(),
            c.Value.Select(v => v?.SquaredNorm ?? 0).ToArray()));

    static Disposables Release(IEnumerable<IDisposable> items) => new(items);

    sealed class Disposables(IEnumerable<IDisposable?> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item?.Dispose();
        }
    }
}
