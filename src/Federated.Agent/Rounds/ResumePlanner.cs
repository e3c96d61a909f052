using Federated.Agent.State;

namespace Federated.Agent.Rounds;

/// <summary>What to do with a task, given what the state directory says was already done.</summary>
public enum RoundAction
{
    /// <summary>Download (if needed), merge, train, export, then upload.</summary>
    Train,
    /// <summary>The update is on disk: upload it, resuming at the acknowledged offset if an upload began.</summary>
    Upload,
    /// <summary>The coordinator has the update; only the metrics may still need reporting.</summary>
    ReportMetrics,
    /// <summary>Nothing left to do in this round.</summary>
    Nothing,
}

/// <summary>
/// The resume rule: never retrain a round whose update was produced (training is the expensive, non-repeatable
/// part), never re-upload an accepted update, and trust the coordinator's "submitted" over local state.
/// </summary>
public static class ResumePlanner
{
    /// <param name="updateFileIntact">The progress's update file exists with its recorded size.</param>
    public static RoundAction Decide(string federationId, int round, bool submitted, RoundProgress? progress, bool updateFileIntact)
    {
        bool sameRound = progress is not null && progress.IsFor(federationId, round);
        if (submitted)
            return sameRound && progress!.Metrics is not null && !progress.MetricsReported ? RoundAction.ReportMetrics : RoundAction.Nothing;
        if (!sameRound) return RoundAction.Train;
        return progress!.Phase switch
        {
            RoundPhase.Trained or RoundPhase.Uploading when updateFileIntact => RoundAction.Upload,
            // The coordinator says it is not in (e.g. its state was reset): send it again.
            RoundPhase.Uploaded when updateFileIntact => RoundAction.Upload,
            _ => RoundAction.Train,
        };
    }

    public static bool UpdateFileIntact(RoundProgress? progress) =>
        progress is { UpdatePath: { } path, UpdateSize: > 0 } && File.Exists(path) && new FileInfo(path).Length == progress.UpdateSize;
}
