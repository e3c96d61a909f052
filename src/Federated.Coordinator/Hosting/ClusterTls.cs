using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Federated.Coordinator.Hosting;

/// <summary>
/// Mutual TLS on the Orleans silo-to-silo and gateway connections (<c>Coordinator:Cluster:Tls</c>): each silo presents its
/// certificate both as server and as client, and accepts a peer only if the peer's certificate chains to the cluster's CA.
/// Peers dial each other by pod IP, so the name is not checked: the private CA is the boundary.
/// </summary>
public static class ClusterTls
{
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, ClusterTlsOptions options)
    {
        if (!options.Enabled) return silo;
        var certificate = Load(options.CertificatePath!, options.KeyPath!);
        var ca = X509CertificateLoader.LoadCertificateFromFile(options.CaPath!);
        return silo.UseTls(certificate, tls =>
        {
            tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            tls.RemoteCertificateValidation = (peer, _, _) => ChainsTo(peer, ca);
        });
    }

    /// <summary>True when <paramref name="peer"/> chains to <paramref name="ca"/> alone (not the system roots); revocation is not checked.</summary>
    public static bool ChainsTo(X509Certificate2 peer, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(peer);
    }

    /// <summary>PEM certificate and key; exported and re-imported so that SslStream can use the key as client and server on every platform.</summary>
    static X509Certificate2 Load(string certificatePath, string keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
    }
}
