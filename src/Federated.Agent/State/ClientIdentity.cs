namespace Federated.Agent.State;

/// <summary>Who this agent is to the coordinator, from Register; kept so that a restart does not enroll again.</summary>
/// <param name="Credential">"&lt;client_id&gt;.&lt;secret&gt;": the only copy (the coordinator keeps its hash).</param>
/// <param name="CredentialIssuedAt">When this agent received <paramref name="Credential"/> (Register or RotateCredential).</param>
/// <param name="CredentialExpiresAt">When the coordinator stops accepting it; null from coordinators without credential expiry (and in older files).</param>
public sealed record ClientIdentity(string Coordinator, string FederationId, string ClientId, string Credential, int AssignedRank, DateTimeOffset EnrolledAt,
    DateTimeOffset? CredentialIssuedAt = null, DateTimeOffset? CredentialExpiresAt = null);
