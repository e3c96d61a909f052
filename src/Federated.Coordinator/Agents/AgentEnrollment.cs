using Federated.Contracts;
using Federated.Coordinator.Hosting;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Register's work: admits the agent (<see cref="EnrollmentGate"/>), mints its client id and credential
/// (<see cref="AgentCredentials"/>) and enrolls it with its client grain; with client certificates on, the client id is bound
/// to the certificate's key before the agent learns its credential.
/// </summary>
public sealed class AgentEnrollment(IGrainFactory grains, CoordinatorOptions options)
{
    /// <param name="certificateKeySha256">The presented TLS client certificate's key (<see cref="ClientCertificates.PresentedKeySha256"/>), if any.</param>
    /// <exception cref="Grpc.Core.RpcException">Unauthenticated for a refused enrollment token.</exception>
    /// <exception cref="FederationException">From the client grain, e.g. NotFound for an unknown federation.</exception>
    public async Task<Enrollment> EnrollAsync(string federationId, string enrollmentToken, ClientCapabilities capabilities, string? certificateKeySha256)
    {
        string admittedBy = await EnrollmentGate.AdmitAsync(grains, options, federationId, enrollmentToken);
        var issued = AgentCredentials.Enroll();
        var client = grains.GetGrain<IClientGrain>(issued.ClientId);
        var view = await client.EnrollAsync(federationId, capabilities, issued.Sha256);
        if (options.Agents.ClientCertificates != ClientCertificateRequirement.Off && certificateKeySha256 is { } key)
            await client.BindCertificateAsync(key);
        return new Enrollment(issued, view, admittedBy);
    }
}

/// <param name="AdmittedBy">What admitted the agent, for the log: "bootstrap" or the enrollment token's id.</param>
public sealed record Enrollment(IssuedCredential Credential, ClientView Client, string AdmittedBy);
