using Federated.Contracts;

namespace Federated.Grains.Rounds;

[GenerateSerializer, Alias("fl.RoundState")]
public sealed class RoundState
{
    [Id(0)] public RoundSpec? Spec { get; set; }
    [Id(1)] public RoundStatus Status { get; set; }
    /// <summary>Selected client -> assigned rank.</summary>
    [Id(2)] public Dictionary<string, int> Selected { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public Dictionary<string, AcceptedSubmission> Submissions { get; set; } = new(StringComparer.Ordinal);
    [Id(4)] public DateTime OpenedAt { get; set; }
    [Id(5)] public DateTime Deadline { get; set; }
    [Id(6)] public DateTime? ClosedAt { get; set; }
    [Id(7)] public StoredUpdate? Global { get; set; }
    [Id(8)] public ClientOutcomeView[] Outcomes { get; set; } = [];
    [Id(9)] public string? FailureReason { get; set; }
    [Id(10)] public TimeSpan? AggregationTime { get; set; }
    /// <summary>The federation has been told the round finished (the watchdog reminder retries until it has).</summary>
    [Id(11)] public bool FederationNotified { get; set; }
    [Id(12)] public int AggregationAttempts { get; set; }
    /// <summary>The federation's model after this round, once it closed.</summary>
    [Id(13)] public FederationModel? Model { get; set; }
    [Id(14)] public double? CompactionError { get; set; }
    [Id(16)] public double? FactoringError { get; set; }
    /// <summary>Selected client -> its latest metrics report for this round.</summary>
    [Id(15)] public Dictionary<string, Dictionary<string, double>> ClientMetrics { get; set; } = new(StringComparer.Ordinal);
}

[GenerateSerializer, Immutable, Alias("fl.AcceptedSubmission")]
public sealed record AcceptedSubmission(
    [property: Id(0)] StoredUpdate Update,
    [property: Id(1)] long ExampleCount,
    [property: Id(2)] int Rank,
    [property: Id(3)] DateTime At);
