namespace Federated.Contracts;

/// <summary>
/// Runs one round's aggregation: loads the updates from the store, validates them, applies the robust rule and
/// the heterogeneous-rank strategy, and stores the global adapter. Stateless, so the work spreads over silos.
/// Its calls are long by nature (a 1,000-client round takes minutes on two cores), so they wait up to <see cref="Timeout"/>
/// instead of Orleans' 30 s default: a caller that gave up would start the same work again beside the first (Orleans does
/// not cancel the timed-out call), and never finish. A silo that dies fails the call at once, whatever the timeout.
/// </summary>
[Alias("fl.IAggregationWorkerGrain")]
public interface IAggregationWorkerGrain : IGrainWithIntegerKey
{
    const string Timeout = "01:00:00";

    [Alias("Aggregate"), ResponseTimeout(Timeout)] Task<AggregationOutcome> AggregateAsync(AggregationJob job);

    /// <summary>The model of round 1: for strategies that share a seeded adapter, it and each rank's init, stored.</summary>
    [Alias("Initialize"), ResponseTimeout(Timeout)] Task<FederationModel> InitializeAsync(ModelJob job);

    /// <summary>The federation's whole model (every delta, in order) as one stored adapter payload, with its export report in the metadata.</summary>
    [Alias("Export"), ResponseTimeout(Timeout)] Task<StoredUpdate> ExportAsync(ExportJob job);
}

/// <summary>How to export a federation's model as one adapter.</summary>
/// <param name="Rank">Truncate every module to this rank (SVD of the exact sum, from the factors); null: exact, or <paramref name="MaxError"/>.</param>
/// <param name="MaxError">Pick the smallest rank vLLM allows whose relative Frobenius error stays within this; null: <paramref name="Rank"/> or exact.</param>
[GenerateSerializer, Immutable, Alias("fl.ExportJob")]
public sealed record ExportJob(
    [property: Id(0)] string BaseModel,
    [property: Id(1)] StoredUpdate[] Deltas,
    [property: Id(2)] int? Rank = null,
    [property: Id(3)] double? MaxError = null)
{
    /// <summary>A stable name for the kind of export (the federation caches one payload per kind and model).</summary>
    public string Kind => Rank is { } r ? $"rank-{r}" : MaxError is { } e ? $"vllm-{e:R}" : "exact";
}

/// <summary>What forming a federation's model needs beyond the updates.</summary>
/// <param name="Ranks">Every rank a client can be assigned: an init is stored for each.</param>
[GenerateSerializer, Immutable, Alias("fl.ModelJob")]
public sealed record ModelJob(
    [property: Id(0)] string FederationId,
    [property: Id(1)] string BaseModel,
    [property: Id(2)] string Strategy,
    [property: Id(3)] string[] TargetModules,
    [property: Id(4)] ModelArchitecture? Architecture,
    [property: Id(5)] int[] Ranks,
    [property: Id(6)] double AlphaPerRank,
    [property: Id(7)] long Seed,
    [property: Id(8)] FederationModel Model,
    [property: Id(9)] HistoryCompaction? Compaction = null)
{
    public static ModelJob For(string federationId, FederationConfig c, FederationModel model) => new(federationId, c.BaseModel,
        c.Aggregation.Strategy, c.TargetModules, c.Architecture, c.RankPolicy.Ranks(), c.RankPolicy.AlphaPerRank, c.Seed, model, c.Compaction);
}

[GenerateSerializer, Immutable, Alias("fl.AggregationJob")]
public sealed record AggregationJob(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] string BaseModel,
    [property: Id(3)] AggregationSettings Settings,
    [property: Id(4)] JobUpdate[] Updates,
    [property: Id(5)] string[] TargetModules,
    [property: Id(6)] ModelJob? Model = null);

/// <param name="ExampleCount">What the client's claim counts for (<see cref="AggregationSettings.CountedExamples"/>), not the raw claim.</param>
/// <param name="AllowedRank">The client's assigned rank: a higher-rank update is rejected.</param>
[GenerateSerializer, Immutable, Alias("fl.JobUpdate")]
public sealed record JobUpdate(
    [property: Id(0)] string ClientId,
    [property: Id(1)] StoredUpdate Update,
    [property: Id(2)] long ExampleCount,
    [property: Id(3)] int AllowedRank,
    [property: Id(4)] StoredUpdate? Init = null);

/// <param name="Global">The stored round aggregate; null when every update was rejected (see <paramref name="Failure"/>).</param>
/// <param name="Model">The federation's model after this round (history extended, or the live adapter replaced, with new inits).</param>
/// <param name="CompactionError">When this round re-factored the history: the largest relative Frobenius error of a module.</param>
/// <param name="FactoringError">
/// When the global was written at another rank than its inputs give (a coordinate-wise rule's dense result at low rank, a
/// FLoRA stack bounded by the module's dimensions or truncated by <see cref="AggregationSettings.GlobalEnergy"/>): the
/// largest relative Frobenius error of a module (0 for the lossless bound).
/// </param>
[GenerateSerializer, Immutable, Alias("fl.AggregationOutcome")]
public sealed record AggregationOutcome(
    [property: Id(0)] StoredUpdate? Global,
    [property: Id(1)] ClientOutcomeView[] Clients,
    [property: Id(2)] TimeSpan Duration,
    [property: Id(3)] string? Failure,
    [property: Id(4)] FederationModel? Model = null,
    [property: Id(5)] double? CompactionError = null,
    [property: Id(6)] double? FactoringError = null);

/// <param name="Weight">p_k, from <paramref name="CountedExamples"/> over the accepted updates (0 when rejected).</param>
/// <param name="Coefficient">gamma_k, the update's share of the global adapter (0 when rejected or excluded).</param>
/// <param name="CountedExamples">What the client's claimed example count counted for, under the federation's weighting and cap.</param>
[GenerateSerializer, Immutable, Alias("fl.ClientOutcomeView")]
public sealed record ClientOutcomeView(
    [property: Id(0)] string ClientId,
    [property: Id(1)] bool Accepted,
    [property: Id(2)] double Weight,
    [property: Id(3)] double Coefficient,
    [property: Id(4)] double? Norm,
    [property: Id(5)] string? Rejection,
    [property: Id(6)] long CountedExamples = 0);
