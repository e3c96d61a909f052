using Federated.Contracts;

namespace Federated.Grains.Clients;

[GenerateSerializer, Alias("fl.RosterMember")]
public sealed class RosterMember
{
    [Id(0)] public int Rank { get; set; }
    [Id(1)] public int RoundsIncluded { get; set; }
    [Id(2)] public int RoundsExcluded { get; set; }
}

[GenerateSerializer, Alias("fl.RosterState")]
public sealed class RosterState
{
    [Id(0)] public Dictionary<string, RosterMember> Members { get; set; } = new(StringComparer.Ordinal);
    /// <summary>The last round whose outcomes were counted, so a retried report counts once.</summary>
    [Id(1)] public int LastRecordedRound { get; set; }
}

/// <summary>
/// One shard of a federation's roster. Liveness is kept in memory only: it changes with every heartbeat and
/// is worthless after a restart, when every member counts as seen at the shard's activation (a grace period).
/// </summary>
public sealed class RosterGrain(
    [PersistentState("roster", GrainStorage.Name)] IPersistentState<RosterState> state) : Grain, IRosterGrain
{
    readonly Dictionary<string, DateTime> _lastSeen = new(StringComparer.Ordinal);
    DateTime _activatedAt;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _activatedAt = DateTime.UtcNow;
        return Task.CompletedTask;
    }

    public async Task AddAsync(string clientId, int rank)
    {
        _lastSeen[clientId] = DateTime.UtcNow;
        if (state.State.Members.TryGetValue(clientId, out var member) && member.Rank == rank) return;
        if (member is null) state.State.Members[clientId] = new RosterMember { Rank = rank };
        else member.Rank = rank;
        await state.WriteStateAsync();
    }

    public async Task RemoveAsync(string clientId)
    {
        _lastSeen.Remove(clientId);
        if (state.State.Members.Remove(clientId))
            await state.WriteStateAsync();
    }

    public Task TouchAsync(string clientId)
    {
        if (state.State.Members.ContainsKey(clientId))
            _lastSeen[clientId] = DateTime.UtcNow;
        return Task.CompletedTask;
    }

    public Task<Candidate[]> CandidatesAsync(DateTime aliveSince, double minReputation) =>
        Task.FromResult(state.State.Members
            .Where(m => LastSeen(m.Key) >= aliveSince && Entry(m.Key, m.Value).Reputation >= minReputation)
            .Select(m => new Candidate(m.Key, m.Value.Rank))
            .ToArray());

    public async Task RecordOutcomesAsync(int round, Participation[] outcomes)
    {
        if (round <= state.State.LastRecordedRound) return;
        foreach (var o in outcomes)
        {
            if (!state.State.Members.TryGetValue(o.ClientId, out var member)) continue;
            if (o.Included) member.RoundsIncluded++;
            else member.RoundsExcluded++;
        }
        state.State.LastRecordedRound = round;
        await state.WriteStateAsync();
    }

    public Task<RosterEntry?> GetAsync(string clientId) =>
        Task.FromResult(state.State.Members.TryGetValue(clientId, out var m) ? Entry(clientId, m) : null);

    public Task<int> CountAsync() => Task.FromResult(state.State.Members.Count);

    DateTime LastSeen(string clientId) => _lastSeen.TryGetValue(clientId, out var t) ? t : _activatedAt;

    RosterEntry Entry(string clientId, RosterMember m) => new(m.Rank, m.RoundsIncluded, m.RoundsExcluded, LastSeen(clientId));
}
