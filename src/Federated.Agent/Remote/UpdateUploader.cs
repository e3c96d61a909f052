using System.Diagnostics;
using Federated.Agent.State;
using Federated.Agent.Trust;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Remote;

/// <summary>What an upload ended with, and how many bytes this process actually sent for it.</summary>
/// <param name="Update">The coordinator's receipt: the update it holds, checked like every reference it sends.</param>
public sealed record UploadResult(UploadStatus Status, AdapterReference? Update, long ResumedAt, long BytesSent);

/// <summary>
/// Streams a trained update to the coordinator: a header, then data chunks. The upload id is fixed (and persisted)
/// before the first byte leaves, so after a broken stream or a restart the agent asks GetUploadStatus for the
/// acknowledged offset and sends only the rest under the same id.
/// </summary>
public sealed class UpdateUploader(CoordinatorConnection connection, AgentStateStore state, RetryPolicy retry, UploadSettings settings,
    ILogger<UpdateUploader> logger)
{
    /// <summary>Stable across retries and restarts of the same update; 1 to 64 of [A-Za-z0-9_-].</summary>
    public static string UploadIdFor(RoundProgress progress) => $"r{progress.Round}-{progress.UpdateSha256![..40]}";

    /// <param name="progress">In phase Trained, Uploading or Uploaded, with the update file written.</param>
    public async Task<(RoundProgress Progress, UploadResult Result)> UploadAsync(RoundProgress progress, CancellationToken cancellation)
    {
        bool mayHaveBegun = progress.Phase is RoundPhase.Uploading or RoundPhase.Uploaded;
        if (progress.Phase != RoundPhase.Uploading || progress.UploadId is null)
        {
            progress = progress with { Phase = RoundPhase.Uploading, UploadId = progress.UploadId ?? UploadIdFor(progress) };
            state.SaveProgress(progress);
        }
        long sent = 0, resumedAt = -1;
        for (int refusals = 0; ; )
        {
            cancellation.ThrowIfCancellationRequested();
            try
            {
                var (response, offset, bytes) = await retry.RunAsync("UploadUpdate", async ct =>
                {
                    long offset = mayHaveBegun ? await AcknowledgedAsync(progress.UploadId!, ct) : 0;
                    mayHaveBegun = true; // from here on, some bytes may have arrived
                    var (response, bytes) = await SendAsync(progress, offset, b => sent += b, ct);
                    return (response, offset, bytes);
                }, cancellation);
                if (resumedAt < 0) resumedAt = offset;
                if (response.UploadStatus == UploadStatus.Incomplete)
                {
                    logger.LogWarning("Upload {UploadId} stopped at byte {Offset:N0} of {Size:N0}; resuming", progress.UploadId, response.AcknowledgedOffset, progress.UpdateSize);
                    continue;
                }
                var receipt = response.Update is null ? null : AdapterReference.From(response.Update, "the upload receipt", long.MaxValue);
                var result = new UploadResult(response.UploadStatus, receipt, resumedAt, sent);
                progress = progress with { Phase = RoundPhase.Uploaded };
                state.SaveProgress(progress);
                return (progress, result);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition && e.Trailers.Get(UploadTrailers.AcknowledgedOffset) is not null && ++refusals < 5)
            {
                // Another stream acknowledged more in the meantime (the trailer says how much): ask again where to continue.
                logger.LogInformation("Upload {UploadId}: {Reason}", progress.UploadId, e.Status.Detail);
            }
        }
    }

    async Task<long> AcknowledgedAsync(string uploadId, CancellationToken cancellation)
    {
        try
        {
            var status = await connection.Client.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = uploadId }, connection.Options(cancellation, TimeSpan.FromSeconds(30)));
            return status.AcknowledgedOffset;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return 0; // never began, or expired on the coordinator: start over under the same id
        }
    }

    async Task<(UploadUpdateResponse Response, long Bytes)> SendAsync(RoundProgress progress, long offset, Action<long> onSent, CancellationToken cancellation)
    {
        logger.LogInformation("Uploading update {Sha256} ({Size:N0} bytes) as {UploadId} from byte {Offset:N0}",
            progress.UpdateSha256, progress.UpdateSize, progress.UploadId, offset);
        using var call = connection.Client.UploadUpdate(connection.Options(cancellation));
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = progress.UploadId, FederationId = progress.FederationId, Round = progress.Round, Sha256 = progress.UpdateSha256,
                Size = progress.UpdateSize, Offset = offset, ExampleCount = progress.ExampleCount, Rank = progress.Rank,
            },
        }, cancellation);
        await using var file = new FileStream(progress.UpdatePath!, FileMode.Open, FileAccess.Read, FileShare.Read);
        file.Position = offset;
        var buffer = new byte[settings.ChunkBytes];
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        var lastReport = TimeSpan.FromSeconds(-2); // the first chunk is reported at once
        int read;
        try
        {
            while ((read = await file.ReadAsync(buffer, cancellation)) > 0)
            {
                // No copy: a write completes only once gRPC has serialized the message, so the buffer is free again after it.
                await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)) }, cancellation);
                bytes += read;
                onSent(read);
                if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(2))
                {
                    lastReport = clock.Elapsed;
                    logger.LogInformation("Upload {UploadId}: sent through byte {Offset:N0} of {Size:N0}", progress.UploadId, offset + bytes, progress.UpdateSize);
                }
                if (settings.BytesPerSecond is { } rate && TimeSpan.FromSeconds((double)bytes / rate) - clock.Elapsed is { } ahead && ahead > TimeSpan.Zero)
                    await Task.Delay(ahead, cancellation);
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException) when (!cancellation.IsCancellationRequested)
        {
            // A refusal while we still send (a limit, a closed round) can break the write before its status arrives: the
            // coordinator's status, which the response carries, says why; only a stream that broke without one is retried.
            await call.ResponseAsync;
            throw;
        }
        return (await call.ResponseAsync, bytes);
    }
}

/// <summary>Chunk size (at most the coordinator's 1 MiB) and an optional rate cap.</summary>
public sealed record UploadSettings(int ChunkBytes, long? BytesPerSecond);
