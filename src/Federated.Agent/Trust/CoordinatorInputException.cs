namespace Federated.Agent.Trust;

/// <summary>
/// The coordinator sent something this agent refuses to act on (a malformed reference, an absurd task field, an
/// adapter that does not fit the local model, more bytes than it declared). The message says what and why; it quotes
/// the coordinator's values only through <see cref="CoordinatorText.Preview"/>.
/// </summary>
public sealed class CoordinatorInputException(string message) : Exception(message);
