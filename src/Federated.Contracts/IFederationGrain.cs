namespace Federated.Contracts;

/// <summary>One federation (keyed by its id): its configuration, round counter and history of global adapters.</summary>
[Alias("fl.IFederationGrain")]
public interface IFederationGrain : IGrainWithStringKey
{
    /// <summary>Creates the federation; repeating it with the same config is a no-op.</summary>
    /// <exception cref="FederationException">AlreadyExists with another config, or InvalidArgument.</exception>
    [Alias("Create")] Task<FederationView> CreateAsync(FederationConfig config);

    /// <summary>
    /// Opens the first round. FailedPrecondition until enough clients registered for a quorum. Waits on the worker that
    /// forms the model's init (gigabytes for a large base), so it waits as long as the worker's calls do.
    /// </summary>
    [Alias("Start"), ResponseTimeout(IAggregationWorkerGrain.Timeout)] Task<FederationView> StartAsync();

    /// <exception cref="FederationException">NotFound before <see cref="CreateAsync"/>.</exception>
    [Alias("Get")] Task<FederationView> GetAsync();

    /// <summary>
    /// Wakes the current round of a running federation, so its deadline timer runs again after a restart
    /// (embedded mode has no persistent reminders). A no-op otherwise, also for unknown ids.
    /// </summary>
    [Alias("Resume")] Task ResumeAsync();

    /// <summary>Called by a round when it closed or failed; idempotent, and opens the next round (or exports the final model: worker time).</summary>
    [Alias("RoundFinished"), ResponseTimeout(IAggregationWorkerGrain.Timeout)] Task RoundFinishedAsync(RoundView round);

    /// <summary>
    /// The federation's whole model (base + history + live adapter) as one stored adapter: exact (rank = the sum of the
    /// deltas' ranks), truncated to <paramref name="rank"/>, or sized for vLLM within <paramref name="maxError"/>.
    /// Computed once per model and kind, then served from the store.
    /// </summary>
    /// <exception cref="FederationException">NotFound before the first round closed; InvalidArgument for a bad rank or bound.</exception>
    [Alias("ExportModel"), ResponseTimeout(IAggregationWorkerGrain.Timeout)] Task<ModelExport> ExportModelAsync(int? rank = null, double? maxError = null);
}

/// <summary>A stored export of a federation's model after <paramref name="CompletedRounds"/> rounds.</summary>
[GenerateSerializer, Immutable, Alias("fl.ModelExport")]
public sealed record ModelExport([property: Id(0)] StoredUpdate Payload, [property: Id(1)] int CompletedRounds, [property: Id(2)] string Kind);

public enum FederationStatus { Created, Running, Completed, Failed }

[GenerateSerializer, Immutable, Alias("fl.FederationView")]
public sealed record FederationView(
    [property: Id(0)] string Id,
    [property: Id(1)] FederationConfig Config,
    [property: Id(2)] FederationStatus Status,
    [property: Id(3)] int CurrentRound,
    [property: Id(4)] int CompletedRounds,
    [property: Id(5)] StoredUpdate? GlobalAdapter,
    [property: Id(6)] RoundRecord[] History,
    [property: Id(7)] string? FailureReason,
    [property: Id(8)] DateTime CreatedAt,
    [property: Id(9)] FederationModel? Model = null,
    [property: Id(10)] StoredUpdate? FinalModel = null);

/// <summary>A finished round as the federation remembers it.</summary>
[GenerateSerializer, Immutable, Alias("fl.RoundRecord")]
public sealed record RoundRecord(
    [property: Id(0)] int Round,
    [property: Id(1)] RoundStatus Status,
    [property: Id(2)] StoredUpdate? GlobalAdapter,
    [property: Id(3)] int Selected,
    [property: Id(4)] int Accepted,
    [property: Id(5)] int Rejected,
    [property: Id(6)] DateTime OpenedAt,
    [property: Id(7)] DateTime? ClosedAt,
    [property: Id(8)] string? FailureReason,
    [property: Id(9)] double? CompactionError = null);

/// <summary>Lists the federations of the cluster (a single grain, key 0).</summary>
[Alias("fl.IFederationDirectoryGrain")]
public interface IFederationDirectoryGrain : IGrainWithIntegerKey
{
    [Alias("Add")] Task AddAsync(string federationId);
    [Alias("List")] Task<string[]> ListAsync();
}
