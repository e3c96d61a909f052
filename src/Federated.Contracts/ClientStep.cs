namespace Federated.Contracts;

/// <summary>What a client is to do now (<see cref="IClientGrain.NextStepAsync"/>): wait, stop, or train in a round.</summary>
[GenerateSerializer, Immutable, Alias("fl.ClientStep")]
public abstract record ClientStep;

/// <summary>Nothing to do yet: ask again after <paramref name="RetryAfter"/>.</summary>
[GenerateSerializer, Immutable, Alias("fl.WaitStep")]
public sealed record WaitStep([property: Id(0)] TimeSpan RetryAfter, [property: Id(1)] string Reason) : ClientStep;

/// <summary>The federation stopped (<see cref="FederationStatus.Completed"/> or <see cref="FederationStatus.Failed"/>).</summary>
/// <param name="FinalAdapter">The last global adapter; null when no round closed.</param>
/// <param name="FinalModel">The whole model exported once the federation stopped (<see cref="FederationView.FinalModel"/>).</param>
[GenerateSerializer, Immutable, Alias("fl.DoneStep")]
public sealed record DoneStep(
    [property: Id(0)] FederationStatus Status,
    [property: Id(1)] string Reason,
    [property: Id(2)] StoredUpdate? FinalAdapter,
    [property: Id(3)] StoredUpdate? FinalModel) : ClientStep;

/// <summary>Selected for an open round (or already submitted to it): the assignment, with the history and init to start from.</summary>
[GenerateSerializer, Immutable, Alias("fl.TrainStep")]
public sealed record TrainStep([property: Id(0)] Assignment Assignment) : ClientStep;
