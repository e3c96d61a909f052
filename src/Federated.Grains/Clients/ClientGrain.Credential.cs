using System.Security.Cryptography;
using System.Text;
using Federated.Contracts;

namespace Federated.Grains.Clients;

/// <summary>
/// The client's credential: issued at enrollment with an expiry (<see cref="CredentialPolicy.Lifetime"/>), replaced by the agent
/// itself (<see cref="RotateCredentialAsync"/>) before that. A rotation keeps the replaced credential valid until the new one is
/// first used or <see cref="CredentialPolicy.RotationGrace"/> ends, whichever is first, so an agent that crashed before saving
/// the new credential still gets in with the old one (and may rotate again). Revocation ends both.
/// </summary>
public sealed partial class ClientGrain
{
    /// <summary>State written before credentials expired has none: it counts as issued now, never as valid forever.</summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.CredentialSha256 is not null && S.CredentialExpiresAt is null)
        {
            var now = policy.UtcNow;
            S.CredentialIssuedAt = now;
            S.CredentialExpiresAt = now + policy.Lifetime;
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public async Task<CredentialStatus> VerifyAsync(string credentialSha256)
    {
        if (S.CredentialSha256 is not { } current)
        {
            // A made-up id: nothing to keep in memory for it.
            if (S.FederationId is null) DeactivateOnIdle();
            return CredentialStatus.Unknown;
        }
        var now = policy.UtcNow;
        if (Matches(current, credentialSha256))
        {
            if (S.RevokedAt is not null) return CredentialStatus.Revoked;
            if (now >= S.CredentialExpiresAt) return CredentialStatus.Expired;
            if (S.PreviousCredentialSha256 is not null)
            {
                // The agent holds the new credential: the one it replaced has no reason to live on.
                ForgetPrevious();
                await state.WriteStateAsync();
            }
            return CredentialStatus.Valid;
        }
        if (S.PreviousCredentialSha256 is { } previous && Matches(previous, credentialSha256))
        {
            if (S.RevokedAt is not null) return CredentialStatus.Revoked;
            if (now < S.PreviousValidUntil) return CredentialStatus.Valid;
            ForgetPrevious();
            await state.WriteStateAsync();
        }
        return CredentialStatus.Unknown;
    }

    public async Task<DateTime> RotateCredentialAsync(string presentedSha256, string newCredentialSha256)
    {
        RequireActive();
        var now = policy.UtcNow;
        if (S.CredentialSha256 is { } current && Matches(current, presentedSha256))
        {
            if (now >= S.CredentialExpiresAt)
                throw new FederationException(FederationError.Unauthenticated, $"credential expired: client '{Id}''s credential expired at {S.CredentialExpiresAt:u}; enroll again");
            S.PreviousCredentialSha256 = current;
            S.PreviousValidUntil = Min(now + policy.RotationGrace, S.CredentialExpiresAt!.Value);
        }
        else if (!(S.PreviousCredentialSha256 is { } previous && Matches(previous, presentedSha256) && now < S.PreviousValidUntil))
        {
            throw new FederationException(FederationError.Unauthenticated, $"unknown credential: not client '{Id}''s current credential");
        }
        // else: the agent lost the credential of the last rotation; that one, never used, is replaced, and the grace is not extended.
        Issue(newCredentialSha256, now);
        await state.WriteStateAsync();
        return S.CredentialExpiresAt!.Value;
    }

    public Task<DateTime?> CredentialExpiryAsync(string credentialSha256)
    {
        DateTime? expiry = null;
        if (S.RevokedAt is null && S.CredentialSha256 is { } current && Matches(current, credentialSha256))
            expiry = S.CredentialExpiresAt;
        else if (S.RevokedAt is null && S.PreviousCredentialSha256 is { } previous && Matches(previous, credentialSha256))
            expiry = S.PreviousValidUntil;
        return Task.FromResult(expiry > policy.UtcNow ? expiry : null);
    }

    /// <summary>The credential the agent enrolled with: a full lifetime, nothing handed over from an earlier one.</summary>
    void Enroll(string credentialSha256)
    {
        Issue(credentialSha256, policy.UtcNow);
        ForgetPrevious();
    }

    void Issue(string credentialSha256, DateTime now)
    {
        S.CredentialSha256 = credentialSha256;
        S.CredentialIssuedAt = now;
        S.CredentialExpiresAt = now + policy.Lifetime;
    }

    void ForgetPrevious()
    {
        S.PreviousCredentialSha256 = null;
        S.PreviousValidUntil = null;
    }

    static bool Matches(string stored, string presented) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored), Encoding.ASCII.GetBytes(presented));

    static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;
}
