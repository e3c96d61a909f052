using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Agents' client certificates: accepted only if they chain to the configured CA (nothing else is trusted for them),
/// and identified by the SHA-256 of their public key (SPKI), which a client id is bound to at enrollment. Pinning the key
/// rather than the certificate lets an operator renew a certificate for the same key without re-enrolling the agent.
/// </summary>
public sealed class ClientCertificates(X509Certificate2 ca, ILogger<ClientCertificates> logger)
{
    static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <summary>Kestrel's <c>ClientCertificateValidation</c>: builds the chain again against the CA alone (not the system roots).</summary>
    public bool Validate(X509Certificate2 certificate, X509Chain? presented, SslPolicyErrors _)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // A certificate that names its uses must name client authentication; one without the extension may be used for any.
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
        if (presented is not null)
            foreach (var element in presented.ChainElements.Skip(1))
                chain.ChainPolicy.ExtraStore.Add(element.Certificate); // intermediates the agent sent
        if (chain.Build(certificate)) return true;
        logger.LogDebug("Refused client certificate {Subject} ({Thumbprint}): {Status}", certificate.Subject, certificate.Thumbprint,
            string.Join(", ", chain.ChainStatus.Select(s => s.Status)));
        return false;
    }

    /// <summary>Lowercase hex SHA-256 of the certificate's SubjectPublicKeyInfo (what a client id is bound to).</summary>
    public static string KeySha256(X509Certificate2 certificate) =>
        Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>The key hash of the certificate the caller's TLS connection presented, or null.</summary>
    public static string? PresentedKeySha256(ServerCallContext context) =>
        context.GetHttpContext().Connection.ClientCertificate is { } certificate ? KeySha256(certificate) : null;
}
