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

/// <summary>The <c>Coordinator:Agents</c> section: transport security of the agents' endpoint.</summary>
public sealed class AgentCertificateOptions
{
    /// <summary><c>Coordinator:Agents:ClientCertificates</c>: Off (default), Optional or Required.</summary>
    public ClientCertificateRequirement ClientCertificates { get; set; } = ClientCertificateRequirement.Off;

    /// <summary><c>Coordinator:Agents:ClientCaPath</c>: PEM file of the CA that issues agents' client certificates (the only root trusted for them).</summary>
    public string? ClientCaPath { get; set; }

    /// <exception cref="InvalidOperationException">The CA is missing while certificates are asked for; the message names the key.</exception>
    public void Validate(string section)
    {
        if (ClientCertificates == ClientCertificateRequirement.Off) return;
        if (string.IsNullOrWhiteSpace(ClientCaPath))
            throw new InvalidOperationException($"{section}:Agents:ClientCaPath is required when {section}:Agents:ClientCertificates is {ClientCertificates} (a PEM file with the CA that issues agents' client certificates)");
        if (!File.Exists(ClientCaPath))
            throw new InvalidOperationException($"{section}:Agents:ClientCaPath: '{ClientCaPath}' does not exist");
    }
}
