using System.Buffers;
using Federated.Contracts;
using Federated.Coordinator.Hosting;
using Federated.Grains;
using Federated.Protocol.V1;
using Federated.Storage;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The agents' side of the coordinator (protos/federation/v1/agent.proto), on top of the grains: adapter bytes
/// go to the upload staging and the update store, grains see only references. Callers are authenticated by
/// <see cref="AgentAuthentication"/>; every refusal is a precise gRPC status with a message saying why.
/// </summary>
public sealed class AgentService(IGrainFactory grains, AgentEnrollment enrollment, IUpdateStore store, IUploadStaging staging, UploadStreams streams, CoordinatorOptions options,
    ILogger<AgentService> logger) : Protocol.V1.AgentService.AgentServiceBase
{
    public override async Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context)
    {
        AgentRequestLimits.Register(request);
        var capabilities = AgentMapping.Capabilities(request.Device);
        var enrolled = await Call(() => enrollment.EnrollAsync(request.FederationId, request.EnrollmentToken, capabilities, ClientCertificates.PresentedKeySha256(context)));
        var (clientId, view) = (enrolled.Credential.ClientId, enrolled.Client);
        logger.LogInformation("Client {Client} enrolled in {Federation} from {Peer} with enrollment token {EnrollmentToken}: {Device}, rank {Rank}",
            clientId, request.FederationId, context.Peer, enrolled.AdmittedBy, capabilities.Device, view.AssignedRank);
        return new RegisterResponse
        {
            ClientId = clientId, ClientCredential = enrolled.Credential.Credential, AssignedRank = view.AssignedRank, LoraAlpha = view.Alpha,
            CredentialExpiresAt = AgentMapping.UnixSeconds(view.CredentialExpiresAt),
        };
    }

    /// <summary>A new credential for the caller; the client grain decides (see <see cref="IClientGrain.RotateCredentialAsync"/>).</summary>
    public override async Task<RotateCredentialResponse> RotateCredential(RotateCredentialRequest request, ServerCallContext context)
    {
        string clientId = AgentAuthentication.ClientOf(context);
        var issued = AgentCredentials.Issue(clientId);
        var expiresAt = await Call(() => grains.GetGrain<IClientGrain>(clientId).RotateCredentialAsync(AgentAuthentication.CredentialOf(context), issued.Sha256));
        logger.LogInformation("Client {Client} rotated its credential from {Peer}; the new one expires at {ExpiresAt:u}", clientId, context.Peer, expiresAt);
        return new RotateCredentialResponse { ClientCredential = issued.Credential, CredentialExpiresAt = AgentMapping.UnixSeconds(expiresAt) };
    }

    public override async Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        var client = grains.GetGrain<IClientGrain>(AgentAuthentication.ClientOf(context));
        if (request.Device is { } device)
        {
            var view = await Call(client.GetAsync);
            await Call(() => client.RegisterAsync(view.FederationId, AgentMapping.Capabilities(device)));
        }
        await Call(client.HeartbeatAsync);
        return new HeartbeatResponse { ServerTime = Timestamp.FromDateTime(DateTime.UtcNow) };
    }

    public override async Task<GetTaskResponse> GetTask(GetTaskRequest request, ServerCallContext context)
    {
        var client = grains.GetGrain<IClientGrain>(AgentAuthentication.ClientOf(context));
        var response = AgentMapping.ToResponse(await Call(client.NextStepAsync));
        // So the agent learns when to rotate, also after an upgrade gave its credential an expiry.
        response.CredentialExpiresAt = AgentMapping.UnixSeconds(await client.CredentialExpiryAsync(AgentAuthentication.CredentialOf(context)));
        return response;
    }

    public override async Task DownloadAdapter(DownloadAdapterRequest request, IServerStreamWriter<AdapterChunk> responseStream, ServerCallContext context)
    {
        var wanted = AgentMapping.ReferenceOf(request.Adapter) ?? throw AgentStatus.Invalid("adapter: a SHA-256 (64 lowercase hex digits) and a positive size are required");
        if (request.Offset < 0 || request.Offset > wanted.Size)
            throw new RpcException(new Status(StatusCode.OutOfRange, $"offset {request.Offset} is outside the adapter's {wanted.Size:N0} bytes"));
        var permission = await Call(() => grains.GetGrain<IClientGrain>(AgentAuthentication.ClientOf(context)).MayDownloadAsync(wanted.ToStoredUpdate()));
        if (!permission.Allowed)
            throw new RpcException(new Status(StatusCode.NotFound, permission.Reason ?? "not an adapter of this client's federation"));

        await using var content = await store.OpenReadAsync(wanted, request.Offset, context.CancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(options.MaxChunkBytes);
        try
        {
            long offset = request.Offset;
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(0, options.MaxChunkBytes), context.CancellationToken)) > 0)
            {
                await responseStream.WriteAsync(new AdapterChunk { Offset = offset, Data = ByteString.CopyFrom(buffer, 0, read), TotalSize = wanted.Size });
                offset += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override async Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UploadUpdateRequest> requestStream, ServerCallContext context)
    {
        string clientId = AgentAuthentication.ClientOf(context);
        using var stream = streams.Open(clientId);
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || requestStream.Current.PartCase != UploadUpdateRequest.PartOneofCase.Header)
            throw AgentStatus.Invalid("an upload starts with a header message");
        var header = requestStream.Current.Header;
        var assignment = await AuthorizeUploadAsync(clientId, header);

        // One open upload per client and round: a new upload id for the round replaces the open one (see IUploadStaging).
        var ticket = new UploadTicket(header.UploadId, clientId, header.Sha256, header.Size, UploadTicket.SlotOf(header.FederationId, header.Round));
        long offset;
        try { offset = await staging.BeginAsync(ticket, ct); }
        catch (UploadException e) { throw AgentStatus.From(e); }
        catch (ArgumentException e) { throw AgentStatus.Invalid(e.Message); }
        if (header.Offset != offset)
            throw AgentStatus.ResumeAt(offset, $"upload '{header.UploadId}' continues at offset {offset}, not {header.Offset}: resume from {offset}");

        offset = await ReceiveAsync(requestStream, clientId, header, offset, ct);
        if (offset < header.Size)
            return new UploadUpdateResponse { Status = "INCOMPLETE", UploadStatus = UploadStatus.Incomplete, AcknowledgedOffset = offset };

        UpdateReference reference;
        try
        {
            reference = await staging.CompleteAsync(clientId, header.UploadId, new UploadValidation(store, assignment, header.Size, header.Rank, options.MaxUpdateBytes), ct);
        }
        catch (UploadException e) { throw AgentStatus.From(e); }
        catch (RpcException)
        {
            await staging.AbortAsync(clientId, header.UploadId, CancellationToken.None); // refused: nothing of it stays
            throw;
        }

        // Through the client grain: an update that finishes uploading after the client was revoked is not accepted.
        var receipt = await Call(() => grains.GetGrain<IClientGrain>(clientId)
            .SubmitAsync(header.Round, new Submission(reference.ToStoredUpdate(), header.ExampleCount, header.Rank)));
        if (!receipt.IsAccepted) throw AgentStatus.From(receipt);
        logger.LogInformation("Client {Client} submitted {Update} to round {Federation}/{Round} ({Status})",
            clientId, reference, header.FederationId, header.Round, receipt.Status);
        bool duplicate = receipt.Status == SubmissionStatus.Duplicate;
        return new UploadUpdateResponse
        {
            Status = duplicate ? "DUPLICATE" : "ACCEPTED",
            UploadStatus = duplicate ? UploadStatus.Duplicate : UploadStatus.Accepted,
            Update = AgentMapping.Ref(reference.ToStoredUpdate()),
            AcknowledgedOffset = header.Size,
        };
    }

    /// <summary>Everything about the upload that can be refused before a byte is received.</summary>
    async Task<Assignment> AuthorizeUploadAsync(string clientId, UploadHeader header)
    {
        AgentRequestLimits.Upload(header);
        if (header.Size <= 0 || header.ExampleCount < 1 || header.Rank < 1 || header.Offset < 0)
            throw AgentStatus.Invalid("header: size, example_count and rank must be positive and offset non-negative");
        if (header.Size > options.MaxUpdateBytes)
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"the update's {header.Size:N0} bytes exceed the {options.MaxUpdateBytes:N0}-byte limit"));
        var view = await Call(grains.GetGrain<IClientGrain>(clientId).GetAsync);
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
    async Task<long> ReceiveAsync(IAsyncStreamReader<UploadUpdateRequest> requestStream, string clientId, UploadHeader header, long offset, CancellationToken ct)
    {
        long written = offset, acknowledged = offset;
        try
        {
            while (await requestStream.MoveNext(ct))
            {
                var message = requestStream.Current;
                if (message.PartCase != UploadUpdateRequest.PartOneofCase.Data)
                    throw AgentStatus.Invalid("only data messages may follow the header");
                var data = message.Data.Memory;
                if (data.Length > options.MaxChunkBytes)
                    throw new RpcException(new Status(StatusCode.ResourceExhausted, $"a {data.Length:N0}-byte chunk exceeds the {options.MaxChunkBytes:N0}-byte limit"));
                if (written + data.Length > header.Size)
                    throw new RpcException(new Status(StatusCode.ResourceExhausted, $"more bytes than the declared {header.Size:N0}"));
                acknowledged = await staging.WriteAsync(clientId, header.UploadId, written, data, ct);
                written += data.Length;
            }
            return written > acknowledged ? await staging.AppendAsync(clientId, header.UploadId, written, ReadOnlyMemory<byte>.Empty, ct) : acknowledged;
        }
        catch (UploadException e)
        {
            throw AgentStatus.From(e);
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

    public override async Task<GetUploadStatusResponse> GetUploadStatus(GetUploadStatusRequest request, ServerCallContext context)
    {
        AgentRequestLimits.UploadId(request.UploadId);
        try
        {
            return new GetUploadStatusResponse { AcknowledgedOffset = await staging.GetOffsetAsync(AgentAuthentication.ClientOf(context), request.UploadId, context.CancellationToken) };
        }
        catch (UploadException e) { throw AgentStatus.From(e); }
        catch (ArgumentException e) { throw AgentStatus.Invalid(e.Message); }
    }

    public override async Task<ReportMetricsResponse> ReportMetrics(ReportMetricsRequest request, ServerCallContext context)
    {
        var metrics = MetricsReport.Check(request);
        string clientId = AgentAuthentication.ClientOf(context);
        // Kept by the round, and only from a client it selected: a report names nothing the client does not take part in.
        var receipt = await Call(() => grains.GetGrain<IRoundGrain>(GrainKeys.Round(request.FederationId, request.Round)).ReportMetricsAsync(clientId, metrics));
        if (receipt.Status != MetricsReportStatus.Accepted)
            throw new RpcException(new Status(StatusCode.PermissionDenied, receipt.Reason ?? receipt.Status.ToString()));
        // Structured: each metric a property of the event (names checked above), never text spliced into the message.
        logger.LogInformation("Client {Client} reports round {Federation}/{Round}: {Metrics}", clientId, request.FederationId, request.Round, metrics);
        return new ReportMetricsResponse();
    }

    static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (FederationException e) { throw AgentStatus.From(e); }
    }

    static async Task Call(Func<Task> call)
    {
        try { await call(); }
        catch (FederationException e) { throw AgentStatus.From(e); }
    }
}
