using System.Net;
using System.Security.Cryptography;
using Federated.Contracts;
using Federated.Coordinator.Tests.Api;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>An operator revokes a client (POST /api/clients/{id}/revoke): its calls, uploads and in-flight submission are refused over real gRPC.</summary>
[Collection(CoordinatorCollection.Name)]
public sealed class ClientRevocationTests(CoordinatorHost coordinator) : IDisposable
{
    readonly Participants _p = new(coordinator, IPAddress.Parse("127.0.0.22"));

    public void Dispose() => _p.Dispose();

    /// <summary>A started one-client federation whose agent holds its round-1 task.</summary>
    async Task<(string Federation, string ClientId, Metadata Auth, TrainingTask Task)> SelectedAgentAsync()
    {
        string fed = await _p.CreateFederationAsync(clients: 1);
        var (token, _) = await _p.CreateTokenAsync(fed, uses: 1);
        var (clientId, auth) = await _p.RegisterAsync(fed, token);
        await coordinator.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var task = (await _p.Agents().GetTaskAsync(new GetTaskRequest(), auth)).Task;
        Assert.NotNull(task);
        return (fed, clientId, auth, task);
    }

    static byte[] Payload(TrainingTask task)
    {
        using var adapter = RandomAdapters.Create(ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]), task.Rank, task.LoraAlpha, seed: 7, baseModel: task.BaseModel);
        return AdapterPayload.ToBytes(adapter);
    }

    static UploadUpdateRequest Header(TrainingTask task, byte[] bytes, string uploadId) => new()
    {
        Header = new UploadHeader
        {
            UploadId = uploadId, FederationId = task.FederationId, Round = task.Round, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
            Size = bytes.Length, ExampleCount = 10, Rank = task.Rank,
        },
    };

    static async Task<StatusCode> StatusOf(Func<Task> call)
    {
        try { await call(); return StatusCode.OK; }
        catch (RpcException e) { return e.StatusCode; }
    }

    async Task RevokeAsync(string clientId)
    {
        var response = await coordinator.Http.PostAsync($"/api/clients/{clientId}/revoke", null);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_revoked_client_gets_Unauthenticated_on_heartbeat_get_task_and_upload_and_leaves_the_roster()
    {
        var (fed, clientId, auth, task) = await SelectedAgentAsync();
        await _p.Agents().HeartbeatAsync(new HeartbeatRequest(), auth);

        await RevokeAsync(clientId);

        var agents = _p.Agents();
        var heartbeat = await Participants.Refused(StatusCode.Unauthenticated, () => agents.HeartbeatAsync(new HeartbeatRequest(), auth).ResponseAsync);
        Assert.StartsWith("credential revoked", heartbeat.Status.Detail);
        await Participants.Refused(StatusCode.Unauthenticated, () => agents.GetTaskAsync(new GetTaskRequest(), auth).ResponseAsync);
        await Participants.Refused(StatusCode.Unauthenticated, () => agents.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = "u" }, auth).ResponseAsync);
        var bytes = Payload(task);
        await Participants.Refused(StatusCode.Unauthenticated, async () =>
        {
            // Refused before the coordinator reads a message: sending the payload only races the refusal (a write into
            // a stream the server has ended can surface as Cancelled on the client), so the header alone is sent.
            using var upload = agents.UploadUpdate(auth);
            try
            {
                await upload.RequestStream.WriteAsync(Header(task, bytes, "after-revoke"));
                await upload.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException) { } // refused while sending: the status comes with the response
            await upload.ResponseAsync;
        });

        Assert.Equal(0, await _p.RosterCountAsync(fed));
        Assert.Equal(0, (await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync()).Submitted);
        var view = await coordinator.Grains.GetGrain<IClientGrain>(clientId).GetAsync();
        Assert.NotNull(view.RevokedAt);
    }

    [Fact]
    public async Task An_upload_in_flight_when_its_client_is_revoked_is_not_accepted_into_the_round()
    {
        var (fed, clientId, auth, task) = await SelectedAgentAsync();
        var bytes = Payload(task);
        int half = bytes.Length / 2;

        using var upload = _p.Agents().UploadUpdate(auth);
        await upload.RequestStream.WriteAsync(Header(task, bytes, "in-flight"));
        await upload.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(bytes, 0, half) });
        // Authenticated when it began (its staging exists), revoked before its last byte.
        while (await StatusOf(() => _p.Agents().GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = "in-flight" }, auth).ResponseAsync) == StatusCode.NotFound)
            await Task.Delay(20);
        await RevokeAsync(clientId);
        await upload.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(bytes, half, bytes.Length - half) });
        await upload.RequestStream.CompleteAsync();

        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => upload.ResponseAsync);
        Assert.StartsWith("credential revoked", refused.Status.Detail);
        Assert.Equal(0, (await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync()).Submitted);
    }

    [Fact]
    public async Task Revoking_an_unknown_client_is_404_and_revoking_twice_keeps_the_first_revocation()
    {
        var (_, clientId, _, _) = await SelectedAgentAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await coordinator.Http.PostAsync("/api/clients/c-0000000000000000/revoke", null)).StatusCode);
        await RevokeAsync(clientId);
        var first = (await coordinator.Grains.GetGrain<IClientGrain>(clientId).GetAsync()).RevokedAt;
        await RevokeAsync(clientId);
        Assert.Equal(first, (await coordinator.Grains.GetGrain<IClientGrain>(clientId).GetAsync()).RevokedAt);
    }
}
