using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Robust;

/// <summary>What the aggregation knows of an update before any factor is read: who sent it, its weight, its header.</summary>
public sealed record UpdateHeader(string ClientId, long ExampleCount, int? AllowedRank, IReadOnlyList<ModuleHeader> Modules);

/// <summary>What a shard found reading its modules of the chosen updates.</summary>
/// <param name="Gram">The Gram over the shard's modules (the chosen updates, then a reference rule's reference); null when not asked for.</param>
/// <param name="Checks">Per module: each chosen update's check (position j for chosen[j]).</param>
/// <param name="Refusals">Chosen positions the shard could not read or refused, with the reason.</param>
public sealed record ShardScan(double[,]? Gram, IReadOnlyDictionary<string, FactorCheck?[]> Checks, IReadOnlyList<(int Position, string Message)> Refusals);

/// <summary>A shard's modules of the global (owned by the receiver; null when it refused an update), how a coordinate-wise rule's were written, and what it scanned.</summary>
public sealed record ShardPart(LoraAdapter? Global, IReadOnlyList<ModuleFactoring>? Factoring, ShardScan Scan);

/// <summary>
/// Some of a round's modules, and the per-module work of the aggregation on them (<see cref="Aggregator.ScanShard"/>,
/// <see cref="Aggregator.CombineShard"/>): in process, or wherever the factors are read (a coordinator's shard grains).
/// Positions in <c>chosen</c> are indices of the updates handed to <see cref="Aggregator.AggregateAsync"/>.
/// </summary>
public interface IModuleShard
{
    Task<ShardScan> ScanAsync(IReadOnlyList<int> chosen, bool gram, CancellationToken cancellationToken = default);

    /// <param name="coefficients">One per chosen update.</param>
    /// <param name="withScan">Report every factor's check (no first phase has).</param>
    Task<ShardPart> CombineAsync(IReadOnlyList<int> chosen, IReadOnlyList<double> coefficients, bool withScan, CancellationToken cancellationToken = default);
}

/// <summary>A shard over adapters in memory: all their modules, or the named ones. Does not own the adapters.</summary>
public sealed class InMemoryShard(Aggregator aggregator, IReadOnlyList<LoraAdapter> updates, IReadOnlyList<string>? modules = null) : IModuleShard
{
    public Task<ShardScan> ScanAsync(IReadOnlyList<int> chosen, bool gram, CancellationToken cancellationToken = default) =>
        Task.FromResult(aggregator.ScanShard(Chosen(chosen), gram));

    public Task<ShardPart> CombineAsync(IReadOnlyList<int> chosen, IReadOnlyList<double> coefficients, bool withScan, CancellationToken cancellationToken = default) =>
        Task.FromResult(aggregator.CombineShard(Chosen(chosen), coefficients, withScan));

    List<LoraAdapter> Chosen(IReadOnlyList<int> chosen) =>
        chosen.Select(k => modules is null ? updates[k] : Aggregator.Restrict(updates[k], modules)).ToList();
}
