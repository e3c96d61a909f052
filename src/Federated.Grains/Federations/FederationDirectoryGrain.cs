using Federated.Contracts;

namespace Federated.Grains.Federations;

[GenerateSerializer, Alias("fl.FederationDirectoryState")]
public sealed class FederationDirectoryState
{
    [Id(0)] public SortedSet<string> Ids { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The list of federations, so operators can enumerate them (grain ids cannot be enumerated).</summary>
public sealed class FederationDirectoryGrain(
    [PersistentState("federations", GrainStorage.Name)] IPersistentState<FederationDirectoryState> state) : Grain, IFederationDirectoryGrain
{
    public async Task AddAsync(string federationId)
    {
        if (state.State.Ids.Add(federationId))
            await state.WriteStateAsync();
    }

    public Task<string[]> ListAsync() => Task.FromResult(state.State.Ids.ToArray());
}
