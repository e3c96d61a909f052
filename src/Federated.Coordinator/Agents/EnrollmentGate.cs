using System.Security.Cryptography;
using System.Text;
using Federated.Contracts;
using Federated.Coordinator.Hosting;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Whether Register may enroll an agent: a bootstrap token from configuration (<c>Coordinator:EnrollmentTokens</c>: static,
/// reusable, never expiring; for first deployments and tests), else an operator-issued token, found by its SHA-256 and
/// spending one use. Every refusal is Unauthenticated, saying why (unknown, expired, revoked, used up, other federation).
/// </summary>
static class EnrollmentGate
{
    /// <returns>What admitted the agent, for the log: "bootstrap" or the issued token's id.</returns>
    public static async Task<string> AdmitAsync(IGrainFactory grains, CoordinatorOptions options, string federationId, string token)
    {
        if (IsBootstrapToken(options, federationId, token))
            return "bootstrap";
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        var check = await grains.GetGrain<IEnrollmentTokenGrain>(hash).ConsumeAsync(federationId);
        if (check.Outcome == EnrollmentOutcome.Accepted)
            return check.Token!.Id;
        var t = check.Token;
        throw new RpcException(new Status(StatusCode.Unauthenticated, check.Outcome switch
        {
            EnrollmentOutcome.Expired => $"enrollment token {t!.Id} expired at {t.ExpiresAt:u}: ask the operator for a new one",
            EnrollmentOutcome.Revoked => $"enrollment token {t!.Id} was revoked: ask the operator for a new one",
            EnrollmentOutcome.UsedUp => $"enrollment token {t!.Id} is used up ({t.Uses} of {t.MaxUses} uses): ask the operator for a new one",
            EnrollmentOutcome.OtherFederation => $"enrollment token {t!.Id} is not for federation '{federationId}'",
            _ => $"invalid enrollment token for federation '{federationId}' (operators issue them with 'fed token create {federationId}')",
        }));
    }

    /// <summary>Compared in constant time; a federation's own tokens and the "*" ones.</summary>
    static bool IsBootstrapToken(CoordinatorOptions options, string federationId, string token)
    {
        var presented = Encoding.UTF8.GetBytes(token);
        bool found = false;
        foreach (var key in (ReadOnlySpan<string>)[federationId, "*"])
            if (options.EnrollmentTokens.TryGetValue(key, out var tokens))
                foreach (var t in tokens)
                    found |= CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(t), presented);
        return found;
    }
}
