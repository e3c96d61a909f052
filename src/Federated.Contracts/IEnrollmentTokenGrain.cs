namespace Federated.Contracts;

/// <summary>
/// One enrollment token, keyed by the SHA-256 (lowercase hex) of its secret: Register finds it from the presented
/// token alone, and the secret itself is never stored. Created through <see cref="IEnrollmentTokensGrain"/>.
/// </summary>
[Alias("fl.IEnrollmentTokenGrain")]
public interface IEnrollmentTokenGrain : IGrainWithStringKey
{
    /// <summary>Stores a new token; called once by its federation's <see cref="IEnrollmentTokensGrain"/>.</summary>
    /// <exception cref="FederationException">AlreadyExists when this hash already names a token.</exception>
    [Alias("Initialize")] Task InitializeAsync(EnrollmentTokenView token);

    /// <summary>
    /// Takes one use for an agent enrolling in <paramref name="federationId"/>, persisted before it answers; anything
    /// else (unknown, other federation, expired, revoked, used up) takes nothing and says which.
    /// </summary>
    [Alias("Consume")] Task<EnrollmentCheck> ConsumeAsync(string federationId);

    /// <summary>Revokes the token (idempotent). NotFound for an unknown token.</summary>
    [Alias("Revoke")] Task<EnrollmentTokenView> RevokeAsync(string? revokedBy);

    /// <summary>The token's record, or null for an unknown hash.</summary>
    [Alias("Get")] Task<EnrollmentTokenView?> GetAsync();
}

/// <summary>
/// A federation's enrollment tokens (keyed by the federation id): creates them, lists them (never the secret) and
/// revokes them by id. The index keeps only id -> hash; each token grain keeps its own uses.
/// </summary>
[Alias("fl.IEnrollmentTokensGrain")]
public interface IEnrollmentTokensGrain : IGrainWithStringKey
{
    /// <summary>A new random token (256 bits) for <paramref name="maxUses"/> enrollments within <paramref name="expiresIn"/>; the secret is returned only here.</summary>
    /// <exception cref="FederationException">NotFound for an unknown federation; InvalidArgument for uses or expiry out of range; FailedPrecondition when the federation holds too many tokens.</exception>
    [Alias("Create")] Task<IssuedEnrollmentToken> CreateAsync(int maxUses, TimeSpan expiresIn, string? createdBy);

    /// <summary>Every token of the federation, newest first, without secrets.</summary>
    [Alias("List")] Task<EnrollmentTokenView[]> ListAsync();

    /// <exception cref="FederationException">NotFound for a token id this federation never issued.</exception>
    [Alias("Revoke")] Task<EnrollmentTokenView> RevokeAsync(string tokenId, string? revokedBy);
}

/// <summary>An enrollment token as operators see it: everything but the secret.</summary>
/// <param name="Id">Names the token for listing and revoking ("t-" and 16 hex digits); says nothing about the secret.</param>
/// <param name="CreatedBy">The operator who created it, as the admin API authenticated them.</param>
[GenerateSerializer, Immutable, Alias("fl.EnrollmentTokenView")]
public sealed record EnrollmentTokenView(
    [property: Id(0)] string Id,
    [property: Id(1)] string FederationId,
    [property: Id(2)] int MaxUses,
    [property: Id(3)] int Uses,
    [property: Id(4)] DateTime CreatedAt,
    [property: Id(5)] DateTime ExpiresAt,
    [property: Id(6)] string? CreatedBy,
    [property: Id(7)] DateTime? RevokedAt = null,
    [property: Id(8)] string? RevokedBy = null)
{
    public EnrollmentTokenStatus StatusAt(DateTime now) =>
        RevokedAt is not null ? EnrollmentTokenStatus.Revoked
        : now >= ExpiresAt ? EnrollmentTokenStatus.Expired
        : Uses >= MaxUses ? EnrollmentTokenStatus.UsedUp
        : EnrollmentTokenStatus.Active;

    public EnrollmentTokenStatus Status => StatusAt(DateTime.UtcNow);
}

public enum EnrollmentTokenStatus { Active, Expired, Revoked, UsedUp }

/// <summary>A token just created: <paramref name="Token"/> is the secret, shown to the operator this once.</summary>
[GenerateSerializer, Immutable, Alias("fl.IssuedEnrollmentToken")]
public sealed record IssuedEnrollmentToken([property: Id(0)] string Token, [property: Id(1)] EnrollmentTokenView Details);

public enum EnrollmentOutcome { Accepted, Unknown, OtherFederation, Expired, Revoked, UsedUp }

/// <summary>What <see cref="IEnrollmentTokenGrain.ConsumeAsync"/> decided; <paramref name="Token"/> is null for an unknown token.</summary>
[GenerateSerializer, Immutable, Alias("fl.EnrollmentCheck")]
public sealed record EnrollmentCheck([property: Id(0)] EnrollmentOutcome Outcome, [property: Id(1)] EnrollmentTokenView? Token);

/// <summary>The bounds every token respects (checked by the grains, so every caller gets them).</summary>
public static class EnrollmentTokenLimits
{
    public const int MaxUses = 100_000;
    public static readonly TimeSpan MinExpiry = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxExpiry = TimeSpan.FromDays(366);
    /// <summary>Tokens one federation lists at once; inactive ones (expired, revoked, used up) make room for new ones.</summary>
    public const int MaxTokensPerFederation = 1000;
    /// <summary>The longest token Register hashes: generated ones have 46 characters, configured ones are operators' own.</summary>
    public const int MaxTokenLength = 256;
}
