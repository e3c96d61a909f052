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
        _ => StatusCode.FailedPrecondition,
    }, e.Message));

    public static RpcException From(UploadException e) => new(new Status(e switch
    {
        UploadHashMismatchException => StatusCode.DataLoss,
        UploadTooLargeException or UploadOverrunException => StatusCode.ResourceExhausted,
        UploadNotFoundException => StatusCode.NotFound,
        UploadConflictException => StatusCode.AlreadyExists,
        _ => StatusCode.FailedPrecondition, // offset mismatch, incomplete: the message says where to resume
    }, e.Message));

    public static RpcException From(SubmissionReceipt receipt) => new(new Status(receipt.Status switch
    {
        SubmissionStatus.NotSelected => StatusCode.PermissionDenied,
        SubmissionStatus.RoundClosed or SubmissionStatus.Conflict => StatusCode.FailedPrecondition,
        SubmissionStatus.RankTooHigh or SubmissionStatus.InvalidSubmission => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    }, receipt.Reason ?? receipt.Status.ToString()));

    public static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
