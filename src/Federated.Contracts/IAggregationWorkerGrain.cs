namespace Federated.Contracts;

/// <summary>
/// Runs one round's aggregation: loads the updates from the store, validates them, applies the robust rule and
/// the heterogeneous-rank strategy, and stores the global adapter. Stateless, so the work spreads over silos.
/// </summary>
[Alias("fl.IAggregationWorkerGrain")]
public interface IAggregationWorkerGrain : IGrainWithIntegerKey
{
    [Alias("Aggregate")] Task<AggregationOutcome> AggregateAsync(AggregationJob job);
}

[GenerateSerializer, Immutable, Alias("fl.AggregationJob")]
public sealed record AggregationJob(
    [property: Id(0)] string FederationId,
    [property: Id(1)] int Round,
    [property: Id(2)] string BaseModel,
    [property: Id(3)] AggregationSettings Settings,
    [property: Id(4)] JobUpdate[] Updates,
    [property: Id(5)] string[] TargetModules);

/// <param name="AllowedRank">The client's assigned rank: a higher-rank update is rejected.</param>
[GenerateSerializer, Immutable, Alias("fl.JobUpdate")]
public sealed record JobUpdate(
    [property: Id(0)] string ClientId,
    [property: Id(1)] StoredUpdate Update,
    [property: Id(2)] long ExampleCount,
    [property: Id(3)] int AllowedRank);

/// <param name="Global">The stored global adapter; null when every update was rejected (see <paramref name="Failure"/>).</param>
[GenerateSerializer, Immutable, Alias("fl.AggregationOutcome")]
public sealed record AggregationOutcome(
    [property: Id(0)] StoredUpdate? Global,
    [property: Id(1)] ClientOutcomeView[] Clients,
    [property: Id(2)] TimeSpan Duration,
    [property: Id(3)] string? Failure);

/// <param name="Coefficient">gamma_k, the update's share of the global adapter (0 when rejected or excluded).</param>
[GenerateSerializer, Immutable, Alias("fl.ClientOutcomeView")]
public sealed record ClientOutcomeView(
    [property: Id(0)] string ClientId,
    [property: Id(1)] bool Accepted,
    [property: Id(2)] double Weight,
    [property: Id(3)] double Coefficient,
    [property: Id(4)] double? Norm,
    [property: Id(5)] string? Rejection);
