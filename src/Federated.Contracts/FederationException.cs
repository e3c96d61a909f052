namespace Federated.Contracts;

/// <summary>Why an operator or agent request was refused; hosts map it to a gRPC / HTTP status.</summary>
public enum FederationError
{
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    /// <summary>The caller's credential is no longer valid (e.g. revoked); agents get gRPC Unauthenticated.</summary>
    Unauthenticated,
}

/// <summary>A refused request, with a message that says what to do differently. Crosses grain calls intact.</summary>
[GenerateSerializer, Alias("fl.FederationException")]
public sealed class FederationException : Exception
{
    public FederationException(FederationError error, string message) : base(message) => Error = error;

    [Id(0)] public FederationError Error { get; private set; }
}
