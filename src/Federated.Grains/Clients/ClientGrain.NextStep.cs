using Federated.Contracts;

namespace Federated.Grains.Clients;

/// <summary>
/// What an agent asks between uploads, decided per client (<see cref="ClientSteps"/>) from reads of its federation and current
/// round, so the federation grain (one per federation, asked by every client) only answers reads.
/// </summary>
public sealed partial class ClientGrain
{
    IFederationGrain Federation => GrainFactory.GetGrain<IFederationGrain>(S.FederationId!);

    public async Task<ClientStep> NextStepAsync()
    {
        await HeartbeatAsync(); // asking for work is a sign of life; NotFound before registration
        var federation = await Federation.GetAsync();
        if (ClientSteps.OfFederation(federation) is { } step) return step;
        var round = GrainFactory.GetGrain<IRoundGrain>(GrainKeys.Round(federation.Id, federation.CurrentRound));
        var assignment = await round.GetAssignmentAsync(Id);
        return ClientSteps.InRound(federation.CurrentRound, assignment, assignment is not null || await OpenedAsync(round));
    }

    public async Task<DownloadPermission> MayDownloadAsync(StoredUpdate adapter)
    {
        RequireRegistered();
        return ClientSteps.MayDownload(await Federation.GetAsync(), adapter);
    }

    static async Task<bool> OpenedAsync(IRoundGrain round)
    {
        try { await round.GetAsync(); }
        catch (FederationException e) when (e.Error == FederationError.NotFound) { return false; }
        return true;
    }
}
