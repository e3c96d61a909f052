using System.Buffers;
using System.Runtime.CompilerServices;
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
/// The agents' side of the coordinator (protos/federation/v1/agent.proto): maps requests onto the grains (which decide),
/// <see cref="AgentEnrollment"/> and <see cref="UpdateUploads"/> (adapter bytes go to the staging and the update store, grains
/// see only references), and their answers back. Callers are authenticated by <see cref="AgentAuthentication"/>; every
/// refusal is a precise gRPC status with a message saying why.
/// </summary>
[BindServiceMethod(typeof(UploadMessages), nameof(UploadMessages.BindService))]
public sealed class AgentService(IGrainFactory grains, AgentEnrollment enrollment, UpdateUploads uploads, IContentStore store, IUploadStaging staging,
    UploadStreams streams, CoordinatorOptions options, ILogger<AgentService> logger) : Protocol.V1.AgentService.AgentServiceBase
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
        var permission = await Call(() => grains.GetGrain<IClientGrain>(AgentAuthentication.ClientOf(context)).MayDownloadAsync(wanted));
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
        if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.PartCase != UploadUpdateRequest.PartOneofCase.Header)
            throw AgentStatus.Invalid("an upload starts with a header message");
        UploadOutcome outcome;
        try { outcome = await uploads.UploadAsync(clientId, requestStream.Current.Header, DataOf(requestStream), context.CancellationToken); }
        catch (UploadException e) { throw AgentStatus.From(e); }
        catch (FederationException e) { throw AgentStatus.From(e); }
        if (outcome.Receipt is { IsAccepted: false } refused) throw AgentStatus.From(refused);
        return AgentMapping.ToResponse(outcome);
    }

    /// <summary>
    /// The data messages after the header; anything else breaks the upload (what came before it stays staged). A message's
    /// pooled buffer is released when the next is asked for: the staging has taken its bytes by then.
    /// </summary>
    static async IAsyncEnumerable<ReadOnlyMemory<byte>> DataOf(IAsyncStreamReader<UploadUpdateRequest> requestStream, [EnumeratorCancellation] CancellationToken ct = default)
    {
        while (await requestStream.MoveNext(ct))
        {
            var message = requestStream.Current;
            if (message.PartCase != UploadUpdateRequest.PartOneofCase.Data)
                throw AgentStatus.Invalid("only data messages may follow the header");
            yield return message.Data.Memory;
            UploadMessages.Release(message);
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
