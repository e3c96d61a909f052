using System.Security.Cryptography.X509Certificates;

namespace Federated.Agent.Remote;

/// <summary>The agent's TLS client certificate (mutual TLS with the coordinator) from PEM files.</summary>
public static class ClientCertificateFile
{
    /// <exception cref="System.Security.Cryptography.CryptographicException">Not a certificate, not its key, or an encrypted key.</exception>
    public static X509Certificate2 Load(string certificatePath, string keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        // Re-imported so that SslStream can use the key on every platform (an ephemeral PEM key is refused on some).
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
    }
}
