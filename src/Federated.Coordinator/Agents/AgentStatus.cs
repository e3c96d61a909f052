using Federated.Contracts;
using Federated.Storage;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>How refusals from the grains and the stores reach an agent: one gRPC status per kind of failure.</summary>
static class AgentStatus
{
    public static RpcException From(FederationException e) => new(new Status(e.Error switch
    {
        FederationError.NotFound => StatusCode.NotFound,
        FederationError.AlreadyExists => StatusCode.AlreadyExists,
        FederationError.InvalidArgument => StatusCode.InvalidArgument,
        FederationError.Unauthenticated => StatusCode.Unauthenticated,
        _ => StatusCode.FailedPrecondition,
    }, e.Message));

    public static RpcException From(UploadException e) => e is UploadOffsetMismatchException mismatch
        ? ResumeAt(mismatch.ExpectedOffset, e.Message)
        : new(new Status(e switch
        {
            UploadHashMismatchException => StatusCode.DataLoss,
            UploadTooLargeException or UploadOverrunException or StagingFullException => StatusCode.ResourceExhausted,
            UploadNotFoundException => StatusCode.NotFound,
            UploadConflictException => StatusCode.AlreadyExists,
            _ => StatusCode.FailedPrecondition, // incomplete: the message says what is missing
        }, e.Message));

    /// <summary>FailedPrecondition with the offset to resume from as a typed trailer, so agents need not parse the message.</summary>
    public static RpcException ResumeAt(long offset, string message) =>
        new(new Status(StatusCode.FailedPrecondition, message), new Metadata { { Protocol.V1.UploadTrailers.AcknowledgedOffset, offset.ToString(System.Globalization.CultureInfo.InvariantCulture) } });

    public static RpcException From(SubmissionReceipt receipt) => new(new Status(receipt.Status switch
    {
        SubmissionStatus.NotSelected => StatusCode.PermissionDenied,
        SubmissionStatus.RoundClosed or SubmissionStatus.Conflict => StatusCode.FailedPrecondition,
        SubmissionStatus.RankTooHigh or SubmissionStatus.InvalidSubmission => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    }, receipt.Reason ?? receipt.Status.ToString()));

    public static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
