namespace Federated.Contracts;

/// <summary>One participant (keyed by its client id): registration, capabilities, assigned rank and liveness.</summary>
[Alias("fl.IClientGrain")]
public interface IClientGrain : IGrainWithStringKey
{
    /// <summary>Joins a federation and assigns a rank from its rank policy; repeating it updates the capabilities.</summary>
    /// <exception cref="FederationException">NotFound for an unknown federation; FailedPrecondition when registered with another one.</exception>
    [Alias("Register")] Task<ClientView> RegisterAsync(string federationId, ClientCapabilities capabilities);

    /// <summary>
    /// <see cref="RegisterAsync"/> for an agent that enrolled over the network: also stores the SHA-256 of the
    /// credential it was issued (never the credential itself), which expires after the coordinator's credential lifetime.
    /// </summary>
    [Alias("Enroll")] Task<ClientView> EnrollAsync(string federationId, ClientCapabilities capabilities, string credentialSha256);

    /// <summary>True when <paramref name="credentialSha256"/> is the hash of the credential this client was issued.</summary>
    [Alias("Authenticate")] Task<bool> AuthenticateAsync(string credentialSha256);

    /// <summary>
    /// Whether <paramref name="credentialSha256"/> is this client's credential, and whether it was revoked or expired; an unknown
    /// client deactivates at once (nothing lasting for a made-up id). The first use of a rotated credential ends its predecessor.
    /// </summary>
    [Alias("Verify")] Task<CredentialStatus> VerifyAsync(string credentialSha256);

    /// <summary>
    /// Replaces the presented credential with <paramref name="newCredentialSha256"/>, which gets a full lifetime; the presented one
    /// stays valid until the new one is first used or the rotation grace ends, whichever is first (a crash before the agent saved
    /// the new credential cannot lock it out). Presenting that predecessor again within the grace replaces the unused credential.
    /// </summary>
    /// <returns>When the new credential expires (UTC).</returns>
    /// <exception cref="FederationException">Unauthenticated when the presented credential is revoked, expired or not this client's.</exception>
    [Alias("RotateCredential")] Task<DateTime> RotateCredentialAsync(string presentedSha256, string newCredentialSha256);

    /// <summary>When the presented credential stops being valid (UTC): its expiry, or for a rotated-out one the end of its grace; null when it is not valid.</summary>
    [Alias("CredentialExpiry")] Task<DateTime?> CredentialExpiryAsync(string credentialSha256);

    /// <summary>Revokes the client's credential for good (idempotent) and drops it from its federation's roster.</summary>
    /// <exception cref="FederationException">NotFound before registration.</exception>
    [Alias("Revoke")] Task<ClientView> RevokeAsync(string? revokedBy);

    /// <summary>
    /// Submits the client's update to a round of its federation, unless it was revoked: the client grain handles one call at
    /// a time, so a revocation either precedes the submission (refused) or follows its acceptance.
    /// </summary>
    /// <exception cref="FederationException">Unauthenticated once revoked; NotFound before registration.</exception>
    [Alias("Submit")] Task<SubmissionReceipt> SubmitAsync(int round, Submission submission);

    /// <summary>
    /// Binds the client to the public key of the TLS client certificate it enrolled with (lowercase hex SHA-256 of its
    /// SubjectPublicKeyInfo): with client certificates on, every later call must present that key.
    /// </summary>
    /// <exception cref="FederationException">NotFound before registration; FailedPrecondition when already bound to another key.</exception>
    [Alias("BindCertificate")] Task BindCertificateAsync(string keySha256);

    /// <summary>The key hash the client is bound to (<see cref="BindCertificateAsync"/>), or null when it enrolled without a certificate.</summary>
    [Alias("GetCertificateBinding")] Task<string?> GetCertificateBindingAsync();

    /// <exception cref="FederationException">NotFound before registration.</exception>
    [Alias("Heartbeat")] Task HeartbeatAsync();

    /// <summary>
    /// What the client is to do now, from its federation and its current round: wait (not started, not selected, round
    /// opening or closing), done (completed or failed), or train. Asking for work is a sign of life: it heartbeats.
    /// </summary>
    /// <exception cref="FederationException">NotFound before registration.</exception>
    [Alias("NextStep")] Task<ClientStep> NextStepAsync();

    /// <summary>
    /// Whether the client may download <paramref name="adapter"/>: only what its own federation serves (a global adapter of
    /// any round, the final model, or a payload of its model or inits).
    /// </summary>
    /// <exception cref="FederationException">NotFound before registration.</exception>
    [Alias("MayDownload")] Task<DownloadPermission> MayDownloadAsync(StoredUpdate adapter);

    /// <exception cref="FederationException">NotFound before registration.</exception>
    [Alias("Get")] Task<ClientView> GetAsync();
}

/// <param name="Reputation">(rounds included + 1) / (rounds participated + 2): falls as a client's updates are rejected or excluded by the robust rule.</param>
[GenerateSerializer, Immutable, Alias("fl.ClientView")]
public sealed record ClientView(
    [property: Id(0)] string ClientId,
    [property: Id(1)] string FederationId,
    [property: Id(2)] ClientCapabilities Capabilities,
    [property: Id(3)] int AssignedRank,
    [property: Id(4)] double Alpha,
    [property: Id(5)] DateTime RegisteredAt,
    [property: Id(6)] DateTime LastSeen,
    [property: Id(7)] double Reputation,
    [property: Id(8)] int RoundsIncluded,
    [property: Id(9)] int RoundsExcluded,
    [property: Id(10)] DateTime? RevokedAt = null,
    [property: Id(11)] string? RevokedBy = null,
    [property: Id(12)] DateTime? CredentialIssuedAt = null,
    [property: Id(13)] DateTime? CredentialExpiresAt = null);

/// <param name="Reason">Why not, naming the adapter and the federation; null when allowed.</param>
[GenerateSerializer, Immutable, Alias("fl.DownloadPermission")]
public sealed record DownloadPermission([property: Id(0)] bool Allowed, [property: Id(1)] string? Reason = null);

/// <summary>The outcome of checking a presented credential against a client's.</summary>
public enum CredentialStatus
{
    Valid,
    /// <summary>Not this client's credential (or one a rotation replaced, once its grace ended), or no such client.</summary>
    Unknown,
    /// <summary>An operator revoked the client.</summary>
    Revoked,
    /// <summary>The credential's lifetime ended before it was rotated: the agent must enroll again.</summary>
    Expired,
}
