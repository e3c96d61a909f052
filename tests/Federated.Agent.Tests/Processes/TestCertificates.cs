using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Federated.Agent.Tests.Processes;

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
