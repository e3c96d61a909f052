namespace Federated.Agent.State;

/// <summary>Who this agent is to the coordinator, from Register; kept so that a restart does not enroll again.</summary>
/// <param name="Credential">"&lt;client_id&gt;.&lt;secret&gt;": the only copy (the coordinator keeps its hash).</param>
public sealed record ClientIdentity(string Coordinator, string FederationId, string ClientId, string Credential, int AssignedRank, DateTimeOffset EnrolledAt);
