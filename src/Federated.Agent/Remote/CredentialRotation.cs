using Federated.Agent.State;
using Federated.Agent.Trust;
using Federated.Protocol.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Remote;

/// <summary>
/// Replaces the agent's credential before it expires: when GetTask says less than a third of its lifetime is left, RotateCredential
/// returns a new one, which is saved durably (the identity file's atomic replace) before any call uses it. The coordinator keeps the
/// old one valid until the new one's first use or a short grace, so a crash between the two leaves the agent its old credential.
/// A failed rotation is tried again with the next task; a refused credential (UNAUTHENTICATED) goes to the caller.
/// </summary>
public sealed class CredentialRotation(CoordinatorConnection connection, Enrollment enrollment, RetryPolicy retry, ILogger<CredentialRotation> logger,
    TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <param name="expiresAt">GetTask's <c>credential_expires_at</c> for the credential in use.</param>
    public async Task AfterGetTaskAsync(long expiresAt, CancellationToken cancellation)
    {
        if (enrollment.Current is not { } identity || CredentialExpiry.FromUnixSeconds(expiresAt) is not { } expiry) return;
        var now = _time.GetUtcNow();
        if (expiry != identity.CredentialExpiresAt)
        {
            // An upgraded coordinator gave an old credential its expiry, or a crash left the agent its rotated-out credential.
            identity = TrySave(identity with { CredentialIssuedAt = identity.CredentialIssuedAt ?? identity.EnrolledAt, CredentialExpiresAt = expiry }) ?? identity;
        }
        if (!CredentialExpiry.IsDue(identity.CredentialIssuedAt ?? identity.EnrolledAt, expiry, now)) return;
        await RotateAsync(identity, expiry, cancellation);
    }

    async Task RotateAsync(ClientIdentity identity, DateTimeOffset expiry, CancellationToken cancellation)
    {
        RotateCredentialResponse response;
        try
        {
            response = await retry.RunAsync("RotateCredential",
                ct => connection.Client.RotateCredentialAsync(new RotateCredentialRequest(), connection.Options(ct, TimeSpan.FromSeconds(30))).ResponseAsync, cancellation);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Unauthenticated && !cancellation.IsCancellationRequested)
        {
            logger.LogWarning("Could not rotate the credential ({Reason}); it expires at {ExpiresAt:u}, trying again with the next task", RetryPolicy.Describe(e), expiry);
            return;
        }
        Enrollment.CheckCredential("RotateCredential", response.ClientCredential);
        if (!response.ClientCredential.StartsWith(identity.ClientId + ".", StringComparison.Ordinal))
            throw new CoordinatorInputException($"RotateCredential: the coordinator's credential is not one of client '{identity.ClientId}'");
        var rotated = identity with
        {
            Credential = response.ClientCredential,
            CredentialIssuedAt = _time.GetUtcNow(),
            CredentialExpiresAt = CredentialExpiry.FromUnixSeconds(response.CredentialExpiresAt),
        };
        if (TrySave(rotated) is null) return; // the old credential stays in use; the coordinator accepts it for the grace
        logger.LogInformation("Rotated the credential of client {ClientId}: the new one expires at {ExpiresAt:u}", rotated.ClientId, rotated.CredentialExpiresAt);
    }

    ClientIdentity? TrySave(ClientIdentity identity)
    {
        try { return enrollment.Replace(identity); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogError("Could not save the credential ({Reason}); keeping the one in use", e.Message);
            return null;
        }
    }
}
