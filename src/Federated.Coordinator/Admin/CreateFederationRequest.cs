using Federated.Contracts;

namespace Federated.Coordinator.Admin;

/// <summary>Body of <c>POST /api/federations</c>: an id and a config of which only <c>baseModel</c> and <c>architecture</c> are required.</summary>
public sealed record CreateFederationRequest(string? Id = null, FederationConfigRequest? Config = null) : Security.IAuditTarget
{
    string Security.IAuditTarget.AuditTarget => $"id={Id}";
}

/// <summary>A <see cref="FederationConfig"/> whose omitted fields take <see cref="FederationConfig.Default"/>'s values.</summary>
public sealed record FederationConfigRequest(
    string? BaseModel = null,
    string[]? TargetModules = null,
    RankPolicyRequest? RankPolicy = null,
    AggregationSettings? Aggregation = null,
    TrainingPlan? Training = null,
    int? Rounds = null,
    int? ClientsPerRound = null,
    int? Quorum = null,
    TimeSpan? RoundDeadline = null,
    TimeSpan? ClientTimeout = null,
    double? MinReputation = null,
    int? MaxConsecutiveFailures = null,
    long? Seed = null,
    ModelArchitecture? Architecture = null,
    HistoryCompaction? Compaction = null)
{
    /// <exception cref="FederationException">InvalidArgument without a base model. Everything else the federation grain checks.</exception>
    public FederationConfig ToConfig()
    {
        if (string.IsNullOrWhiteSpace(BaseModel))
            throw new FederationException(FederationError.InvalidArgument, "config.baseModel is required (the base model every participant holds, e.g. an HF repo id)");
        var d = FederationConfig.Default(BaseModel, Architecture);
        return d with
        {
            TargetModules = TargetModules ?? d.TargetModules,
            RankPolicy = RankPolicy?.ToPolicy(d.RankPolicy) ?? d.RankPolicy,
            // AggregationSettings and TrainingPlan have a default for every field, so JSON fills them field by field.
            Aggregation = Aggregation ?? d.Aggregation,
            Training = Training ?? d.Training,
            Rounds = Rounds ?? d.Rounds,
            ClientsPerRound = ClientsPerRound ?? d.ClientsPerRound,
            Quorum = Quorum ?? d.Quorum,
            RoundDeadline = RoundDeadline ?? d.RoundDeadline,
            ClientTimeout = ClientTimeout ?? d.ClientTimeout,
            MinReputation = MinReputation ?? d.MinReputation,
            MaxConsecutiveFailures = MaxConsecutiveFailures ?? d.MaxConsecutiveFailures,
            Seed = Seed ?? d.Seed,
            Compaction = Compaction,
        };
    }
}

/// <summary>A <see cref="Contracts.RankPolicy"/> whose omitted fields keep the default's; <c>tiers: []</c> fixes every client at <c>cpuRank</c>.</summary>
public sealed record RankPolicyRequest(int? CpuRank = null, RankTier[]? Tiers = null, double? AlphaPerRank = null)
{
    public RankPolicy ToPolicy(RankPolicy defaults) =>
        new(CpuRank ?? defaults.CpuRank, Tiers ?? defaults.Tiers, AlphaPerRank ?? defaults.AlphaPerRank);
}
