namespace Federated.Coordinator.Hosting;

/// <summary>The <c>Coordinator:Cluster</c> section: how silos reach each other.</summary>
public sealed class CoordinatorClusterOptions
{
    public ClusterTlsOptions Tls { get; set; } = new();
}

/// <summary>
/// <c>Coordinator:Cluster:Tls</c>: mutual TLS on the Orleans silo and gateway ports. Every silo presents its certificate
/// (PEM) and accepts only peers whose certificate chains to <see cref="CaPath"/>. Off unless <see cref="CertificatePath"/> is set.
/// </summary>
public sealed class ClusterTlsOptions
{
    public string? CertificatePath { get; set; }
    public string? KeyPath { get; set; }
    /// <summary>PEM of the CA that issued every silo's certificate: the only root trusted for peers.</summary>
    public string? CaPath { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);

    /// <exception cref="InvalidOperationException">A file is missing; the message names the key.</exception>
    public void Validate(string section)
    {
        string prefix = $"{section}:Cluster:Tls";
        if (!Enabled)
        {
            if (!string.IsNullOrWhiteSpace(KeyPath) || !string.IsNullOrWhiteSpace(CaPath))
                throw new InvalidOperationException($"{prefix}:CertificatePath is required with {prefix}:KeyPath or CaPath (silo TLS is on only with a certificate)");
            return;
        }
        foreach (var (key, path) in new[] { ("CertificatePath", CertificatePath), ("KeyPath", KeyPath), ("CaPath", CaPath) })
        {
            if (string.IsNullOrWhiteSpace(path))
                throw new InvalidOperationException($"{prefix}:{key} is required for silo TLS (PEM files: the silo's certificate, its key, and the CA that issued every silo's certificate)");
            if (!File.Exists(path))
                throw new InvalidOperationException($"{prefix}:{key}: '{path}' does not exist");
        }
    }
}
