namespace Federated.Agent.State;

/// <summary>How far the agent got in a round; each phase is persisted before the next begins.</summary>
public enum RoundPhase
{
    /// <summary>Written only by older agents (before training, nothing to resume from): read as a round not yet trained.</summary>
    Downloaded,
    /// <summary>The update payload is written; its hash and size are known.</summary>
    Trained,
    /// <summary>An upload id was chosen and the upload may have begun: resume it, never retrain.</summary>
    Uploading,
    /// <summary>The coordinator accepted the update (or had it already).</summary>
    Uploaded,
}

/// <summary>The current round's progress (one round at a time: a new round replaces it).</summary>
/// <param name="UpdatePath">The trained update payload (a one-file adapter).</param>
/// <param name="Metrics">Train/eval loss and throughput, reported once the update is in.</param>
public sealed record RoundProgress(
    string FederationId,
    int Round,
    RoundPhase Phase,
    string? UpdatePath = null,
    string? UpdateSha256 = null,
    long UpdateSize = 0,
    string? UploadId = null,
    long ExampleCount = 0,
    int Rank = 0,
    Dictionary<string, double>? Metrics = null,
    bool MetricsReported = false)
{
    public bool IsFor(string federationId, int round) => FederationId == federationId && Round == round;
}
