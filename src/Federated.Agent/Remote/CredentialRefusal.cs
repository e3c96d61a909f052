using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Agent.Remote;

/// <summary>Why the coordinator refused the agent's credential (UNAUTHENTICATED), from its <c>credential-status</c> trailer.</summary>
public enum CredentialRefusal
{
    /// <summary>No reason given: the coordinator does not know the credential (its state was reset, or a rotation replaced it).</summary>
    Unknown,
    /// <summary>An operator revoked this client: forget the identity and stop; enrolling again is the participant's decision.</summary>
    Revoked,
    /// <summary>The credential outlived its lifetime without being rotated (the agent was off too long): forget it, enroll again if a token is set.</summary>
    Expired,
}

public static class CredentialRefusals
{
    public static CredentialRefusal Of(RpcException e) => e.Trailers.GetValue(CredentialTrailers.Status) switch
    {
        CredentialTrailers.Revoked => CredentialRefusal.Revoked,
        CredentialTrailers.Expired => CredentialRefusal.Expired,
        _ => CredentialRefusal.Unknown,
    };
}
