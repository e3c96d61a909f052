namespace Federated.Protocol.V1;

/// <summary>Trailers of UploadUpdate responses, which both sides name the same way (see agent.proto).</summary>
public static class UploadTrailers
{
    /// <summary>On a FAILED_PRECONDITION for a stream opened at the wrong offset: the offset to resume from, in decimal.</summary>
    public const string AcknowledgedOffset = "acknowledged-offset";
}
