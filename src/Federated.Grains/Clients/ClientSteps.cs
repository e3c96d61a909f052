using Federated.Contracts;

namespace Federated.Grains.Clients;

/// <summary>
/// What a client is to do now and what it may download, from its federation's view and its current round: the rules
/// behind <see cref="IClientGrain.NextStepAsync"/> and <see cref="IClientGrain.MayDownloadAsync"/>, without Orleans.
/// </summary>
public static class ClientSteps
{
    /// <summary>Not selected: the next chance is the next round.</summary>
    public static readonly TimeSpan NotSelectedRetry = TimeSpan.FromSeconds(10);

    /// <summary>Not started, or between rounds: the answer changes soon.</summary>
    public static readonly TimeSpan RoundBusyRetry = TimeSpan.FromSeconds(2);

    /// <returns>Wait or done while the federation is not running; null when its current round decides (<see cref="InRound"/>).</returns>
    public static ClientStep? OfFederation(FederationView federation) => federation.Status switch
    {
        FederationStatus.Created => new WaitStep(RoundBusyRetry, $"federation '{federation.Id}' has not started"),
        FederationStatus.Completed => Done(federation, $"federation '{federation.Id}' completed {federation.CompletedRounds} rounds"),
        FederationStatus.Failed => Done(federation, $"federation '{federation.Id}' failed: {federation.FailureReason}"),
        _ => null,
    };

    /// <param name="round">The federation's current round.</param>
    /// <param name="assignment">The client's in that round; null when it was not selected or the round is not open yet.</param>
    /// <param name="roundOpened">Whether the round was opened (it matters only without an assignment).</param>
    public static ClientStep InRound(int round, Assignment? assignment, bool roundOpened)
    {
        if (assignment is null)
            // Between a round's close and the next one's opening the federation already points at the next round.
            return roundOpened ? new WaitStep(NotSelectedRetry, $"not selected for round {round}") : new WaitStep(RoundBusyRetry, $"round {round} is opening");
        // One whose update is in still gets its task, marked submitted, while the round closes: nothing left to do.
        if (assignment.Status != RoundStatus.Open && !assignment.Submitted)
            return new WaitStep(RoundBusyRetry, $"round {assignment.Round} is {assignment.Status.ToString().ToLowerInvariant()}");
        return new TrainStep(assignment);
    }

    /// <summary>Only its own federation's global adapters (current and past), final model, and model payloads or inits.</summary>
    public static DownloadPermission MayDownload(FederationView federation, StoredUpdate adapter) =>
        federation.GlobalAdapter == adapter || federation.FinalModel == adapter || federation.History.Any(r => r.GlobalAdapter == adapter)
        || federation.Model?.References(adapter) == true
            ? new DownloadPermission(true)
            : new DownloadPermission(false, $"no adapter {adapter} in federation '{federation.Id}'");

    static DoneStep Done(FederationView federation, string reason) => new(federation.Status, reason, federation.GlobalAdapter, federation.FinalModel);
}
