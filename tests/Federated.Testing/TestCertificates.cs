using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Federated.Testing;

/// <summary>PEM files of a private PKI, as an operator would have them: a CA, and a server certificate it signed.</summary>
public sealed record CertificateFiles(string CaCertificate, string ServerCertificate, string ServerKey);

/// <summary>Makes a private CA and a server certificate for localhost / 127.0.0.1 signed by it, written as PEM files.</summary>
public static class TestCertificates
{
    /// <summary>Writes <c>{prefix}ca.crt</c>, <c>{prefix}server.crt</c> and <c>{prefix}server.key</c> into <paramref name="directory"/>.</summary>
    public static CertificateFiles PrivatePki(string directory, string prefix = "")
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN=Federated test CA {prefix}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var server = serverRequest.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));

        var files = new CertificateFiles(Path.Combine(directory, prefix + "ca.crt"), Path.Combine(directory, prefix + "server.crt"), Path.Combine(directory, prefix + "server.key"));
        File.WriteAllText(files.CaCertificate, ca.ExportCertificatePem());
        File.WriteAllText(files.ServerCertificate, server.ExportCertificatePem());
        File.WriteAllText(files.ServerKey, serverKey.ExportPkcs8PrivateKeyPem());
        return files;
    }
}

/// <summary>PEM files of a client certificate and its key.</summary>
public sealed record ClientCertificateFiles(string Certificate, string Key);

/// <summary>
/// A private CA for agents' client certificates (mutual TLS), kept in memory to issue certificates; its certificate is
/// written as <c>{name}.crt</c> for the coordinator's <c>Coordinator:Agents:ClientCaPath</c> or silo TLS.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    readonly X509Certificate2 _certificate;
    readonly string _directory;

    public TestCertificateAuthority(string directory, string name)
    {
        _directory = directory;
        var now = DateTimeOffset.UtcNow;
        var request = new CertificateRequest($"CN=Federated test {name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        _certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        Certificate = Path.Combine(directory, name + ".crt");
        File.WriteAllText(Certificate, _certificate.ExportCertificatePem());
    }

    /// <summary>The CA's certificate (PEM).</summary>
    public string Certificate { get; }

    /// <summary>A certificate with a fresh key for <paramref name="name"/>, usable as TLS client and server (silos are both), for localhost / 127.0.0.1.</summary>
    public ClientCertificateFiles Issue(string name)
    {
        var now = DateTimeOffset.UtcNow;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.2", "Client Authentication"), new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(_certificate, now.AddMinutes(-5), _certificate.NotAfter.AddMinutes(-1), RandomNumberGenerator.GetBytes(16));
        var files = new ClientCertificateFiles(Path.Combine(_directory, name + ".crt"), Path.Combine(_directory, name + ".key"));
        File.WriteAllText(files.Certificate, issued.ExportCertificatePem());
        File.WriteAllText(files.Key, key.ExportPkcs8PrivateKeyPem());
        return files;
    }

    public void Dispose()
    {
        _certificate.Dispose();
        _key.Dispose();
    }
}
