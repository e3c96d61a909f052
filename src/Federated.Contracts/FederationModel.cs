namespace Federated.Contracts;

/// <summary>
/// A federation's model beyond the frozen base: the merged history (deltas every client merges into its base, oldest
/// first) and the live adapter (what continuing strategies train), plus what a client at each rank starts from next.
/// The whole model is base + every history delta + the live adapter.
/// </summary>
/// <param name="Inits">Per assignable rank, the adapter a selected client at that rank starts from; empty for fresh branches.</param>
[GenerateSerializer, Immutable, Alias("fl.FederationModel")]
public sealed record FederationModel(
    [property: Id(0)] RoundDelta[] History,
    [property: Id(1)] StoredUpdate? Live,
    [property: Id(2)] RankedAdapter[] Inits)
{
    public static FederationModel Empty { get; } = new([], null, []);

    public StoredUpdate? InitFor(int rank) => Inits.FirstOrDefault(i => i.Rank == rank)?.Adapter;

    /// <summary>Every payload the model consists of, in the order they add up: history, then live.</summary>
    public IEnumerable<StoredUpdate> Deltas() => History.Select(h => h.Adapter).Concat(Live is null ? [] : [Live]);

    /// <summary>Whether <paramref name="adapter"/> is part of this model or one of its inits (what a client may download).</summary>
    public bool References(StoredUpdate adapter) => Deltas().Contains(adapter) || Inits.Any(i => i.Adapter == adapter);
}

/// <summary>One round's delta in the merged history.</summary>
[GenerateSerializer, Immutable, Alias("fl.RoundDelta")]
public sealed record RoundDelta([property: Id(0)] int Round, [property: Id(1)] StoredUpdate Adapter);

[GenerateSerializer, Immutable, Alias("fl.RankedAdapter")]
public sealed record RankedAdapter([property: Id(0)] int Rank, [property: Id(1)] StoredUpdate Adapter);
