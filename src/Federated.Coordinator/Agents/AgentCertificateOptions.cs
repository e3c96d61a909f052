namespace Federated.Coordinator.Agents;

/// <summary>Whether agents must present a client certificate on the agents' endpoint (mutual TLS).</summary>
public enum ClientCertificateRequirement
{
    /// <summary>No certificate is asked for; agents authenticate with their bearer credential only.</summary>
    Off,
    /// <summary>Asked for, not required: one presented must chain to the CA, and an agent that enrolled with one is bound to it.</summary>
    Optional,
    /// <summary>Every connection must present a certificate chaining to the CA; every client is bound to the one it enrolled with.</summary>
    Required,
}

/// <summary>The <c>Coordinator:Agents</c> section: transport security of the agents' endpoint, and their credentials' lifetime.</summary>
public sealed class AgentCertificateOptions
{
    /// <summary><c>Coordinator:Agents:CredentialLifetime</c>: how long a client credential is valid after enrollment or rotation (agents rotate at two thirds).</summary>
    public TimeSpan CredentialLifetime { get; set; } = Federated.Grains.Clients.CredentialPolicy.DefaultLifetime;

    /// <summary>
    /// <c>Coordinator:Agents:RotationGrace</c>: how long a credential replaced by a rotation stays valid if the new one is not used
    /// (an agent that crashed before saving it). The new one's first use ends it at once.
    /// </summary>
    public TimeSpan RotationGrace { get; set; } = Federated.Grains.Clients.CredentialPolicy.DefaultRotationGrace;

    /// <summary><c>Coordinator:Agents:ClientCertificates</c>: Off (default), Optional or Required.</summary>
    public ClientCertificateRequirement ClientCertificates { get; set; } = ClientCertificateRequirement.Off;

    /// <summary><c>Coordinator:Agents:ClientCaPath</c>: PEM file of the CA that issues agents' client certificates (the only root trusted for them).</summary>
    public string? ClientCaPath { get; set; }

    /// <exception cref="InvalidOperationException">A lifetime out of range, or the CA is missing while certificates are asked for; the message names the key.</exception>
    public void Validate(string section)
    {
        if (CredentialLifetime <= TimeSpan.Zero || CredentialLifetime > TimeSpan.FromDays(3650))
            throw new InvalidOperationException($"{section}:Agents:CredentialLifetime must be positive and at most 3650.00:00:00, not {CredentialLifetime}");
        // Longer than the lifetime is harmless: a replaced credential is never valid past its own expiry.
        if (RotationGrace < TimeSpan.Zero || RotationGrace > TimeSpan.FromDays(3650))
            throw new InvalidOperationException($"{section}:Agents:RotationGrace must be between 00:00:00 and 3650.00:00:00, not {RotationGrace}");
        if (ClientCertificates == ClientCertificateRequirement.Off) return;
        if (string.IsNullOrWhiteSpace(ClientCaPath))
            throw new InvalidOperationException($"{section}:Agents:ClientCaPath is required when {section}:Agents:ClientCertificates is {ClientCertificates} (a PEM file with the CA that issues agents' client certificates)");
        if (!File.Exists(ClientCaPath))
            throw new InvalidOperationException($"{section}:Agents:ClientCaPath: '{ClientCaPath}' does not exist");
    }
}
