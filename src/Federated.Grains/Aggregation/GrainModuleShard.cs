using Federated.Contracts;
using Federated.Core.Aggregation;
using Federated.Core.Formats;
using Federated.Core.Robust;

namespace Federated.Grains.Aggregation;

/// <summary>
/// A module shard of a round's aggregation, run by <see cref="IAggregationShardGrain"/> activations wherever Orleans places
/// them. A call whose silo dies fails (Orleans fails the calls a dead silo held); it is made again on a fresh activation,
/// which Orleans places on a live silo.
/// </summary>
/// <param name="positions">Index into the job's updates of each update the aggregation was handed.</param>
sealed class GrainModuleShard(IGrainFactory grains, IContentStore store, AggregationJob job, int[] positions, string[] modules, int index) : IModuleShard
{
    const int Attempts = 3;

    public async Task<ShardScan> ScanAsync(IReadOnlyList<int> chosen, bool gram, CancellationToken cancellationToken = default)
    {
        var view = await CallAsync("scan", g => g.ScanAsync(Job(chosen) with { Gram = gram }));
        return Scan(view);
    }

    public async Task<ShardPart> CombineAsync(IReadOnlyList<int> chosen, IReadOnlyList<double> coefficients, bool withScan, CancellationToken cancellationToken = default)
    {
        var view = await CallAsync("combine", g => g.CombineAsync(Job(chosen) with { Coefficients = [.. coefficients], WithScan = withScan }));
        if (view.Part is not { } part) return new ShardPart(null, null, Scan(view.Scan));
        // The part was stored for this call alone (marked with its key): read, it is no longer needed.
        var global = await PayloadModules.ReadAllAsync(store, part, $"shard part {part}");
        await store.DeleteAsync(part, cancellationToken);
        return new ShardPart(global, view.Factoring?.Select(f => new ModuleFactoring(f.Module, f.Rank, f.RelativeError)).ToList(), Scan(view.Scan));
    }

    ShardJob Job(IReadOnlyList<int> chosen) => new(job, modules, chosen.Select(k => positions[k]).ToArray());

    async Task<T> CallAsync<T>(string phase, Func<IAggregationShardGrain, Task<T>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            var grain = grains.GetGrain<IAggregationShardGrain>($"{job.FederationId}/{job.Round}/{phase}/{index}/{Guid.NewGuid():N}");
            try { return await call(grain); }
            catch (Exception e) when (attempt < Attempts && e is SiloUnavailableException or OrleansMessageRejectionException) { }
        }
    }

    static ShardScan Scan(ShardScanView view)
    {
        double[,]? gram = null;
        if (view.Gram is { } g)
        {
            gram = new double[view.GramSize, view.GramSize];
            for (int i = 0; i < view.GramSize; i++)
                for (int j = 0; j < view.GramSize; j++) gram[i, j] = g[i * view.GramSize + j];
        }
        var checks = view.Checks.ToDictionary(c => c.Module,
            c => c.Scanned.Select((scanned, j) => scanned ? new FactorCheck(c.Finite[j], c.SquaredNorms[j]) : (FactorCheck?)null).ToArray(), StringComparer.Ordinal);
        return new ShardScan(gram, checks, view.Refusals.Select(r => (r.Position, r.Message)).ToList());
    }
}
