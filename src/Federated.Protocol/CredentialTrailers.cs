namespace Federated.Protocol.V1;

/// <summary>Trailers of UNAUTHENTICATED answers, which both sides name the same way (see agent.proto).</summary>
public static class CredentialTrailers
{
    /// <summary>Why a credential was refused, when the agent should act on it: <see cref="Revoked"/> or <see cref="Expired"/>.</summary>
    public const string Status = "credential-status";

    /// <summary>An operator revoked the client: it must not enroll again by itself (a multi-use token would let it).</summary>
    public const string Revoked = "revoked";

    /// <summary>The credential's lifetime ended before the agent rotated it: it may enroll again with an enrollment token.</summary>
    public const string Expired = "expired";
}
