namespace Federated.Contracts;

/// <summary>
/// Some of a round's modules, aggregated where Orleans places the grain: reads those modules of each chosen update (byte
/// ranges of the stored payloads), and either scans them (checks, norms, the Gram over its modules) or combines them into
/// its part of the global (stored). One activation per call (a fresh key each time), placed at random over the silos, so
/// a round's shards spread over the cluster and a silo that dies takes only the calls it held, which the caller repeats.
/// </summary>
[Alias("fl.IAggregationShardGrain")]
public interface IAggregationShardGrain : IGrainWithStringKey
{
    [Alias("Scan"), ResponseTimeout(IAggregationWorkerGrain.Timeout)] Task<ShardScanView> ScanAsync(ShardJob job);

    [Alias("Combine"), ResponseTimeout(IAggregationWorkerGrain.Timeout)] Task<ShardPartView> CombineAsync(ShardJob job);
}

/// <param name="Job">The round's aggregation (updates, settings, base model).</param>
/// <param name="Modules">This shard's modules, in the global's order.</param>
/// <param name="Chosen">Indices into the job's updates.</param>
/// <param name="Coefficients">Combine: one per chosen update.</param>
/// <param name="Gram">Scan: compute the Gram over these modules too.</param>
/// <param name="WithScan">Combine: report every factor's check.</param>
[GenerateSerializer, Immutable, Alias("fl.ShardJob")]
public sealed record ShardJob(
    [property: Id(0)] AggregationJob Job,
    [property: Id(1)] string[] Modules,
    [property: Id(2)] int[] Chosen,
    [property: Id(3)] double[]? Coefficients = null,
    [property: Id(4)] bool Gram = false,
    [property: Id(5)] bool WithScan = false);

/// <summary>One module's checks of the chosen updates (position j for chosen[j]); Scanned false where nothing was read.</summary>
[GenerateSerializer, Immutable, Alias("fl.ModuleChecksView")]
public sealed record ModuleChecksView(
    [property: Id(0)] string Module,
    [property: Id(1)] bool[] Scanned,
    [property: Id(2)] bool[] Finite,
    [property: Id(3)] double[] SquaredNorms);

/// <summary>An update a shard could not read or admit, by chosen position.</summary>
[GenerateSerializer, Immutable, Alias("fl.ShardRefusal")]
public sealed record ShardRefusal([property: Id(0)] int Position, [property: Id(1)] string Message);

/// <param name="Gram">Row-major, <paramref name="GramSize"/> squared; null when not asked for.</param>
[GenerateSerializer, Immutable, Alias("fl.ShardScanView")]
public sealed record ShardScanView(
    [property: Id(0)] double[]? Gram,
    [property: Id(1)] int GramSize,
    [property: Id(2)] ModuleChecksView[] Checks,
    [property: Id(3)] ShardRefusal[] Refusals);

/// <summary>How a shard's module of a coordinate-wise rule's dense result was written.</summary>
[GenerateSerializer, Immutable, Alias("fl.ModuleFactoringView")]
public sealed record ModuleFactoringView([property: Id(0)] string Module, [property: Id(1)] int Rank, [property: Id(2)] double RelativeError);

/// <param name="Part">The shard's modules of the global, stored as an adapter payload (null when every chosen update was refused).</param>
[GenerateSerializer, Immutable, Alias("fl.ShardPartView")]
public sealed record ShardPartView(
    [property: Id(0)] StoredUpdate? Part,
    [property: Id(1)] ModuleFactoringView[]? Factoring,
    [property: Id(2)] ShardScanView Scan);
