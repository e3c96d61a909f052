using Federated.Contracts;
using Federated.Coordinator.Hosting;
using Federated.Grains;
using Federated.Protocol.V1;
using Federated.Storage;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// An agent's update upload after its header: refused before a byte is received unless the client may submit it to that round,
/// staged as the data arrives (what came before a broken stream stays staged, so the agent resumes later), checked by
/// <see cref="UploadValidation"/> on its way into the update store, and submitted through the client grain.
/// <para>
/// Refusals of the request are <see cref="RpcException"/>s with the status the agent sees; the staging's and the grains' own
/// (<see cref="UploadException"/>, <see cref="FederationException"/>) are left to the caller to map (<see cref="AgentStatus"/>).
/// </para>
/// </summary>
public sealed class UpdateUploads(IGrainFactory grains, IContentStore store, IUploadStaging staging, CoordinatorOptions options, ILogger<UpdateUploads> logger)
{
    /// <param name="data">The data messages that follow the header, as they arrive.</param>
    public async Task<UploadOutcome> UploadAsync(string clientId, UploadHeader header, IAsyncEnumerable<ReadOnlyMemory<byte>> data, CancellationToken ct)
    {
        var assignment = await AuthorizeAsync(clientId, header);

        // One open upload per client and round: a new upload id for the round replaces the open one (see IUploadStaging).
        var ticket = new UploadTicket(header.UploadId, clientId, header.Sha256, header.Size, UploadTicket.SlotOf(header.FederationId, header.Round));
        long offset;
        try { offset = await staging.BeginAsync(ticket, ct); }
        catch (ArgumentException e) { throw AgentStatus.Invalid(e.Message); }
        if (header.Offset != offset)
            throw AgentStatus.ResumeAt(offset, $"upload '{header.UploadId}' continues at offset {offset}, not {header.Offset}: resume from {offset}");

        offset = await ReceiveAsync(data, clientId, header, offset, ct);
        if (offset < header.Size)
            return new UploadOutcome(offset);

        StoredUpdate reference;
        try
        {
            reference = await staging.CompleteAsync(clientId, header.UploadId, new UploadValidation(store, assignment, header.Size, header.Rank, options.MaxUpdateBytes), ct);
        }
        catch (RpcException)
        {
            await staging.AbortAsync(clientId, header.UploadId, CancellationToken.None); // refused: nothing of it stays
            throw;
        }

        // Through the client grain: an update that finishes uploading after the client was revoked is not accepted.
        var receipt = await grains.GetGrain<IClientGrain>(clientId).SubmitAsync(header.Round, new Submission(reference, header.ExampleCount, header.Rank));
        if (receipt.IsAccepted)
            logger.LogInformation("Client {Client} submitted {Update} to round {Federation}/{Round} ({Status})",
                clientId, reference, header.FederationId, header.Round, receipt.Status);
        return new UploadOutcome(header.Size, reference, receipt);
    }

    /// <summary>Everything about the upload that can be refused before a byte is received.</summary>
    async Task<Assignment> AuthorizeAsync(string clientId, UploadHeader header)
    {
        AgentRequestLimits.Upload(header);
        if (header.Size <= 0 || header.ExampleCount < 1 || header.Rank < 1 || header.Offset < 0)
            throw AgentStatus.Invalid("header: size, example_count and rank must be positive and offset non-negative");
        if (header.Size > options.MaxUpdateBytes)
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"the update's {header.Size:N0} bytes exceed the {options.MaxUpdateBytes:N0}-byte limit"));
        var view = await grains.GetGrain<IClientGrain>(clientId).GetAsync();
        if (header.FederationId != view.FederationId)
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"client '{clientId}' belongs to federation '{view.FederationId}', not '{header.FederationId}'"));
        var assignment = await grains.GetGrain<IRoundGrain>(GrainKeys.Round(header.FederationId, header.Round)).GetAssignmentAsync(clientId)
            ?? throw new RpcException(new Status(StatusCode.PermissionDenied, $"client '{clientId}' was not selected for round {header.Round} of federation '{header.FederationId}'"));
        if (assignment.Status != RoundStatus.Open && !assignment.Submitted)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"round {header.Round} of federation '{header.FederationId}' is {assignment.Status.ToString().ToLowerInvariant()}"));
        if (header.Rank > assignment.Rank)
            throw AgentStatus.Invalid($"rank {header.Rank} exceeds the rank {assignment.Rank} assigned for round {header.Round}");
        return assignment;
    }

    /// <summary>
    /// Writes each data message to the staging as it arrives (no buffer of our own); the staging acknowledges at its sync
    /// points, and everything received once the stream ends, or breaks: what arrived before a broken stream is still staged.
    /// </summary>
    async Task<long> ReceiveAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> chunks, string clientId, UploadHeader header, long offset, CancellationToken ct)
    {
        long written = offset, acknowledged = offset;
        try
        {
            await foreach (var data in chunks.WithCancellation(ct))
            {
                if (data.Length > options.MaxChunkBytes)
                    throw new RpcException(new Status(StatusCode.ResourceExhausted, $"a {data.Length:N0}-byte chunk exceeds the {options.MaxChunkBytes:N0}-byte limit"));
                if (written + data.Length > header.Size)
                    throw new RpcException(new Status(StatusCode.ResourceExhausted, $"more bytes than the declared {header.Size:N0}"));
                acknowledged = await staging.WriteAsync(clientId, header.UploadId, written, data, ct);
                written += data.Length;
            }
            return written > acknowledged ? await staging.AppendAsync(clientId, header.UploadId, written, ReadOnlyMemory<byte>.Empty, ct) : acknowledged;
        }
        catch (UploadException)
        {
            throw; // the staging refused: nothing more to stage
        }
        catch (Exception) when (written > acknowledged)
        {
            // The stream broke (the agent went away, or sent something refused): keep the valid bytes it sent before, so its
            // resume starts later. Not only on cancellation: a reset connection can fault the read before the call's token
            // is cancelled.
            try { await staging.AppendAsync(clientId, header.UploadId, written, ReadOnlyMemory<byte>.Empty, CancellationToken.None); }
            catch (Exception e) { logger.LogDebug(e, "Could not stage the tail of a broken upload"); }
            throw;
        }
    }
}

/// <summary>How an upload stream ended, short of a refusal.</summary>
/// <param name="AcknowledgedOffset">The bytes staged: all of them once complete.</param>
/// <param name="Update">In the update store; null when the stream ended before the declared size.</param>
/// <param name="Receipt">The round's answer to the submission, which may refuse it; null when incomplete.</param>
public sealed record UploadOutcome(long AcknowledgedOffset, StoredUpdate? Update = null, SubmissionReceipt? Receipt = null);
