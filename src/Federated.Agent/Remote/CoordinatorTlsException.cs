using System.Security.Authentication;
using Federated.Agent.Hosting;
using Grpc.Core;

namespace Federated.Agent.Remote;

/// <summary>
/// The TLS handshake with the coordinator failed, typically on its certificate (not signed by a CA the agent trusts, or
/// not for the address used). Not retried at the same address: waiting does not change a certificate, and an agent
/// retrying it looks like one waiting out a coordinator outage while it never will enroll. Another silo of the same
/// coordinator is tried first (<see cref="RetryPolicy"/>).
/// </summary>
public sealed class CoordinatorTlsException(Uri? coordinator, AuthenticationException reason)
    : Exception($"cannot establish TLS with the coordinator{(coordinator is null ? "" : $" at {coordinator}")}: {reason.Message} " +
        $"({AgentOptions.Section}:CaCertificate, --ca-cert, must be the PEM of the CA that signed its certificate, and the address one the certificate names)", reason)
{
    /// <summary>The handshake failure inside a failed call (gRPC keeps the transport's exception as the status's debug exception), or null.</summary>
    public static AuthenticationException? Find(Exception? e)
    {
        for (; e is not null; e = e is RpcException r ? r.Status.DebugException : e.InnerException)
            if (e is AuthenticationException authentication) return authentication;
        return null;
    }
}
