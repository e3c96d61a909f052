using System.Security.Cryptography;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Mints what agents authenticate with: client ids (<c>c-</c> + 16 hex digits) and credentials of the shape
/// <see cref="CredentialFormat"/> checks. Grains only ever see a credential's SHA-256 (<see cref="AgentAuthentication.HashCredential"/>).
/// </summary>
public static class AgentCredentials
{
    /// <summary>A new client id with its first credential.</summary>
    public static IssuedCredential Enroll() =>
        Issue("c-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(CredentialFormat.ClientIdHexDigits / 2)));

    /// <summary>A new credential of <paramref name="clientId"/> (at enrollment, or to rotate).</summary>
    public static IssuedCredential Issue(string clientId)
    {
        string credential = CredentialFormat.Issue(clientId);
        return new IssuedCredential(clientId, credential, AgentAuthentication.HashCredential(credential));
    }
}

/// <param name="Credential">Handed to the agent once; never stored.</param>
/// <param name="Sha256">What the client grain keeps and checks presented credentials against.</param>
public sealed record IssuedCredential(string ClientId, string Credential, string Sha256);
