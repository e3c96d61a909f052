namespace Federated.Contracts;

/// <summary>
/// One round of one federation (key <see cref="GrainKeys.Round"/>): selection, assignments, accepted update
/// references, deadline and quorum. Open -> Aggregating -> Closed, or Failed below quorum. Every accepted
/// submission is persisted before it is acknowledged.
/// </summary>
[Alias("fl.IRoundGrain")]
public interface IRoundGrain : IGrainWithStringKey
{
    /// <summary>Selects the participants and starts the deadline; repeating it returns the round as it is.</summary>
    [Alias("Open")] Task<RoundView> OpenAsync(RoundSpec spec);

    /// <summary>The client's task in this round, or null when it was not selected.</summary>
    [Alias("GetAssignment")] Task<Assignment?> GetAssignmentAsync(string clientId);

    /// <summary>Records a stored update. The same update twice is a duplicate, not an error; everything refused says why.</summary>
    [Alias("Submit")] Task<SubmissionReceipt> SubmitAsync(string clientId, Submission submission);

    /// <summary>
    /// Keeps a selected client's training metrics for this round (a later report replaces an earlier one). Names and
    /// counts are bounded by the caller (<see cref="ClientMetrics"/>); anyone not selected is refused.
    /// </summary>
    [Alias("ReportMetrics")] Task<MetricsReceipt> ReportMetricsAsync(string clientId, Dictionary<string, double> metrics);

    /// <exception cref="FederationException">NotFound for a round never opened.</exception>
    [Alias("Get")] Task<RoundView> GetAsync();

    /// <summary>
    /// Closes an open round now, as if its deadline had passed: it aggregates with a quorum, else fails. For
    /// operators, and for simulations whose clocks run faster than deadlines. A no-op once the round closed.
    /// </summary>
    /// <exception cref="FederationException">NotFound for a round never opened.</exception>
    [Alias("Close")] Task<RoundView> CloseAsync();
}

public enum RoundStatus { Open, Aggregating, Closed, Failed }

/// <param name="Model">The federation's model this round starts from: what selected clients merge and continue.</param>
[GenerateSerializer, Immutable, Alias("fl.RoundSpec")]
public sealed record RoundSpec(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] FederationConfig Config,
    [property: Id(4)] FederationModel? Model = null);

/// <summary>What a selected client is to do in a round.</summary>
/// <param name="History">The deltas to merge into the base before training, oldest first.</param>
/// <param name="Init">The adapter to continue training at <paramref name="Rank"/>; null: fresh branches seeded by <paramref name="Seed"/>.</param>
/// <param name="FreezeA">A is not trained: the upload's A must equal the init's.</param>
/// <param name="Seed">For fresh branches in this round (from the federation's seed and the round; clients mix in their own).</param>
[GenerateSerializer, Immutable, Alias("fl.Assignment")]
public sealed record Assignment(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] string BaseModel,
    [property: Id(3)] string[] TargetModules,
    [property: Id(4)] int Rank,
    [property: Id(5)] double Alpha,
    [property: Id(6)] TrainingPlan Training,
    [property: Id(8)] DateTime Deadline,
    [property: Id(9)] RoundStatus Status,
    [property: Id(10)] bool Submitted,
    [property: Id(11)] RoundDelta[]? History = null,
    [property: Id(12)] StoredUpdate? Init = null,
    [property: Id(13)] bool FreezeA = false,
    [property: Id(14)] long Seed = 0,
    [property: Id(15)] string? Strategy = null,
    [property: Id(16)] ModelArchitecture? Architecture = null);

/// <param name="Update">The payload, already complete in the update store.</param>
/// <param name="ExampleCount">Local training examples (the update's weight p_k).</param>
/// <param name="Rank">The rank the client says it trained at; at most its assigned rank.</param>
[GenerateSerializer, Immutable, Alias("fl.Submission")]
public sealed record Submission([property: Id(0)] StoredUpdate Update, [property: Id(1)] long ExampleCount, [property: Id(2)] int Rank);

public enum SubmissionStatus
{
    Accepted,
    /// <summary>The same update was already accepted: nothing changed, and that is success.</summary>
    Duplicate,
    NotSelected,
    RoundClosed,
    /// <summary>A different update was already accepted from this client in this round.</summary>
    Conflict,
    RankTooHigh,
    InvalidSubmission,
    /// <summary>The reference names nothing in the update store.</summary>
    PayloadMissing,
}

[GenerateSerializer, Immutable, Alias("fl.SubmissionReceipt")]
public sealed record SubmissionReceipt([property: Id(0)] SubmissionStatus Status, [property: Id(1)] string? Reason = null)
{
    public bool IsAccepted => Status is SubmissionStatus.Accepted or SubmissionStatus.Duplicate;
}

[GenerateSerializer, Immutable, Alias("fl.RoundView")]
public sealed record RoundView(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] RoundStatus Status,
    [property: Id(3)] string[] Selected,
    [property: Id(4)] int Submitted,
    [property: Id(5)] int Quorum,
    [property: Id(6)] DateTime OpenedAt,
    [property: Id(7)] DateTime Deadline,
    [property: Id(8)] DateTime? ClosedAt,
    [property: Id(9)] StoredUpdate? Global,
    [property: Id(10)] ClientOutcomeView[] Outcomes,
    [property: Id(11)] string? FailureReason,
    [property: Id(12)] TimeSpan? AggregationTime,
    [property: Id(13)] FederationModel? Model = null,
    [property: Id(14)] double? CompactionError = null,
    [property: Id(15)] ClientMetricsView[]? ClientMetrics = null,
    [property: Id(16)] RoundMetric[]? Metrics = null,
    [property: Id(17)] double? FactoringError = null);

/// <summary>What one client reported about its training in a round (train and eval loss, throughput, ...).</summary>
[GenerateSerializer, Immutable, Alias("fl.ClientMetricsView")]
public sealed record ClientMetricsView([property: Id(0)] string ClientId, [property: Id(1)] Dictionary<string, double> Metrics);

/// <summary>
/// One metric over a round's clients: the mean of the finite values reported by clients with an accepted submission,
/// weighted by the examples their submission counted for (as Flower weights evaluation results by num_examples).
/// </summary>
[GenerateSerializer, Immutable, Alias("fl.RoundMetric")]
public sealed record RoundMetric([property: Id(0)] string Name, [property: Id(1)] double Value, [property: Id(2)] int Clients);

public enum MetricsReportStatus { Accepted, NotSelected }

[GenerateSerializer, Immutable, Alias("fl.MetricsReceipt")]
public sealed record MetricsReceipt([property: Id(0)] MetricsReportStatus Status, [property: Id(1)] string? Reason = null);
