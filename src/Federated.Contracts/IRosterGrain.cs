using Orleans.Concurrency;

namespace Federated.Contracts;

/// <summary>
/// One shard of a federation's roster (key <see cref="GrainKeys.Roster"/>): what selection needs of each client
/// (rank, reputation, last seen), so that a round selects from 16 grain calls instead of one per client.
/// </summary>
[Alias("fl.IRosterGrain")]
public interface IRosterGrain : IGrainWithStringKey
{
    [Alias("Add")] Task AddAsync(string clientId, int rank);

    /// <summary>Drops a client (revoked): it is never selected again. A no-op for a non-member.</summary>
    [Alias("Remove")] Task RemoveAsync(string clientId);

    [Alias("Touch"), OneWay] Task TouchAsync(string clientId);

    /// <summary>Clients seen at or after <paramref name="aliveSince"/> with at least <paramref name="minReputation"/>.</summary>
    [Alias("Candidates")] Task<Candidate[]> CandidatesAsync(DateTime aliveSince, double minReputation);

    [Alias("RecordOutcomes")] Task RecordOutcomesAsync(int round, Participation[] outcomes);

    [Alias("Get")] Task<RosterEntry?> GetAsync(string clientId);

    [Alias("Count")] Task<int> CountAsync();
}

[GenerateSerializer, Immutable, Alias("fl.Candidate")]
public sealed record Candidate([property: Id(0)] string ClientId, [property: Id(1)] int Rank);

/// <summary>Whether a submitted update counted in a round (false: rejected by hygiene, or given no weight by the robust rule).</summary>
[GenerateSerializer, Immutable, Alias("fl.Participation")]
public sealed record Participation([property: Id(0)] string ClientId, [property: Id(1)] bool Included);

[GenerateSerializer, Immutable, Alias("fl.RosterEntry")]
public sealed record RosterEntry(
    [property: Id(0)] int Rank,
    [property: Id(1)] int RoundsIncluded,
    [property: Id(2)] int RoundsExcluded,
    [property: Id(3)] DateTime LastSeen)
{
    public double Reputation => (RoundsIncluded + 1.0) / (RoundsIncluded + RoundsExcluded + 2.0);
}
