using System.Security.Cryptography;
using Federated.Contracts;
using Federated.Coordinator.Tests.Api;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Grains;
using Federated.Protocol.V1;
using Federated.Storage;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>
/// The agents' gRPC service over a real loopback HTTP/2 connection to the real coordinator: enrollment, tasks,
/// resumable uploads, downloads, and one precise status code for each kind of bad input, with nothing stored.
/// </summary>
[Collection(CoordinatorCollection.Name)]
public sealed class AgentServiceTests(CoordinatorHost coordinator) : IDisposable
{
    static readonly IReadOnlyList<ModuleShape> Shapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]);
    readonly GrpcChannel _channel = GrpcChannel.ForAddress(coordinator.GrpcAddress);
    AgentService.AgentServiceClient Agents => new(_channel);
    IContentStore Store => coordinator.App.Services.GetRequiredService<IContentStore>();

    public void Dispose() => _channel.Dispose();

    sealed record Agent(string ClientId, Metadata Auth);

    /// <summary>hidden 32, 2 layers, 4 heads and as many key/value heads: the base of <see cref="Shapes"/>.</summary>
    static readonly ModelArchitecture Architecture = new(32, 2, 4, 4, 64);
    /// <summary>hidden 32, 2 layers, 4 heads of which 2 key/value heads: q_proj is 32x32, v_proj 16x32.</summary>
    static readonly ModelArchitecture GroupedArchitecture = new(32, 2, 4, 2, 64);
    static readonly IReadOnlyList<ModuleShape> BaseShapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"], kvDim: 16);

    async Task<string> CreateFederationAsync(int clients = 2, int quorum = 2, string strategy = "flora", bool grouped = false, int rounds = 2)
    {
        string id = CoordinatorHost.NewId("agents");
        await coordinator.Grains.GetGrain<IFederationGrain>(id).CreateAsync(FederationConfig.Default("tiny-llama", grouped ? GroupedArchitecture : Architecture) with
        {
            Rounds = rounds, ClientsPerRound = clients, Quorum = quorum, RankPolicy = RankPolicy.Fixed(4), Aggregation = new AggregationSettings(strategy),
        });
        return id;
    }

    async Task<Agent> RegisterAsync(string federation)
    {
        var response = await Agents.RegisterAsync(new RegisterRequest
        {
            FederationId = federation, EnrollmentToken = CoordinatorHost.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
        });
        Assert.StartsWith(response.ClientId + ".", response.ClientCredential);
        return new Agent(response.ClientId, new Metadata { { "authorization", "Bearer " + response.ClientCredential } });
    }

    /// <summary>A started federation whose agents are all selected for round 1, with their tasks.</summary>
    async Task<(string Federation, List<(Agent Agent, TrainingTask Task)> Agents)> StartedAsync(int clients = 2, int? quorum = null,
        string strategy = "flora", bool grouped = false, int rounds = 2)
    {
        string fed = await CreateFederationAsync(clients, quorum ?? clients, strategy, grouped, rounds);
        var agents = new List<Agent>();
        for (int i = 0; i < clients; i++) agents.Add(await RegisterAsync(fed));
        await coordinator.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var tasks = new List<(Agent, TrainingTask)>();
        foreach (var agent in agents)
        {
            var response = await Agents.GetTaskAsync(new GetTaskRequest(), agent.Auth);
            Assert.Equal(GetTaskResponse.OutcomeOneofCase.Task, response.OutcomeCase);
            tasks.Add((agent, response.Task));
        }
        return (fed, tasks);
    }

    static byte[] Payload(TrainingTask task, int seed, string? baseModel = null, IReadOnlyList<ModuleShape>? shapes = null)
    {
        using var adapter = RandomAdapters.Create(shapes ?? Shapes, task.Rank, task.LoraAlpha, seed, baseModel: baseModel ?? task.BaseModel);
        return AdapterPayload.ToBytes(adapter);
    }

    static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Streams <paramref name="bytes"/>[offset..offset+count) after a header declaring the whole payload.</summary>
    async Task<UploadUpdateResponse> UploadAsync(Agent agent, TrainingTask task, byte[] bytes, string uploadId, long offset = 0, int? count = null,
        int chunk = 64 << 10, string? sha = null, long? size = null, int? rank = null, int? round = null, string? federation = null)
    {
        using var call = Agents.UploadUpdate(agent.Auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = uploadId, FederationId = federation ?? task.FederationId, Round = round ?? task.Round, Sha256 = sha ?? Sha(bytes),
                Size = size ?? bytes.Length, Offset = offset, ExampleCount = 10, Rank = rank ?? task.Rank,
            },
        });
        int end = (int)offset + (count ?? bytes.Length - (int)offset);
        try
        {
            for (int at = (int)offset; at < end; at += chunk)
                await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(bytes, at, Math.Min(chunk, end - at)) });
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server refused while we were still sending: its status comes with the response, not the write.
        }
        return await call.ResponseAsync;
    }

    static async Task<StatusCode> StatusOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        return e.StatusCode;
    }

    [Fact]
    public async Task Enrollment_needs_a_valid_token_and_a_known_federation_and_calls_need_the_issued_credential()
    {
        string fed = await CreateFederationAsync();
        var wrong = await Assert.ThrowsAsync<RpcException>(() => Agents.RegisterAsync(new RegisterRequest
        {
            FederationId = fed, EnrollmentToken = "not-the-token-0123456789", Device = new DeviceInfo { Device = "cpu" },
        }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        Assert.Contains("invalid enrollment token", wrong.Status.Detail);
        Assert.Equal(StatusCode.NotFound, await StatusOf(() => Agents.RegisterAsync(new RegisterRequest
        {
            FederationId = "no-such-federation", EnrollmentToken = CoordinatorHost.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
        }).ResponseAsync));

        var agent = await RegisterAsync(fed);
        Assert.Equal(GetTaskResponse.OutcomeOneofCase.Wait, (await Agents.GetTaskAsync(new GetTaskRequest(), agent.Auth)).OutcomeCase);
        Assert.Equal(StatusCode.Unauthenticated, await StatusOf(() => Agents.GetTaskAsync(new GetTaskRequest()).ResponseAsync));
        var forged = new Metadata { { "authorization", $"Bearer {agent.ClientId}.forged-secret" } };
        Assert.Equal(StatusCode.Unauthenticated, await StatusOf(() => Agents.HeartbeatAsync(new HeartbeatRequest(), forged).ResponseAsync));
    }

    [Fact]
    public async Task An_upload_in_chunks_is_accepted_into_the_round_and_a_replay_is_a_duplicate()
    {
        var (fed, agents) = await StartedAsync();
        var (agent, task) = agents[0];
        var bytes = Payload(task, seed: 1);

        var accepted = await UploadAsync(agent, task, bytes, "u1", chunk: 1000);
        var replay = await UploadAsync(agent, task, bytes, "u2");

        Assert.Equal("ACCEPTED", accepted.Status);
        Assert.Equal(Sha(bytes), accepted.Update.Sha256);
        Assert.Equal("DUPLICATE", replay.Status);
        var round = await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync();
        Assert.Equal(1, round.Submitted);
        Assert.True((await Agents.GetTaskAsync(new GetTaskRequest(), agent.Auth)).Task.Submitted);
    }

    [Fact]
    public async Task An_interrupted_upload_resumes_from_the_acknowledged_offset_without_resending()
    {
        var (_, agents) = await StartedAsync();
        var (agent, task) = agents[0];
        var bytes = Payload(task, seed: 2);
        int half = bytes.Length / 2;

        var partial = await UploadAsync(agent, task, bytes, "resumable", count: half);
        Assert.Equal("INCOMPLETE", partial.Status);
        Assert.Equal(UploadStatus.Incomplete, partial.UploadStatus);
        Assert.Equal(half, partial.AcknowledgedOffset);
        Assert.Equal(half, (await Agents.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = "resumable" }, agent.Auth)).AcknowledgedOffset);

        var wrongOffset = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agent, task, bytes, "resumable", offset: 0));
        Assert.Equal(StatusCode.FailedPrecondition, wrongOffset.StatusCode);
        Assert.Contains($"resume from {half}", wrongOffset.Status.Detail);
        Assert.Equal(half.ToString(System.Globalization.CultureInfo.InvariantCulture), wrongOffset.Trailers.GetValue("acknowledged-offset")); // typed: no parsing

        var done = await UploadAsync(agent, task, bytes, "resumable", offset: half);
        Assert.Equal("ACCEPTED", done.Status);
        Assert.Equal(UploadStatus.Accepted, done.UploadStatus);
        Assert.Equal(bytes, await Store.ReadAsync(new StoredUpdate(Sha(bytes), bytes.Length)));
    }

    [Fact]
    public async Task Bad_uploads_get_their_status_code_and_nothing_is_stored()
    {
        var (fed, agents) = await StartedAsync();
        var (agent, task) = agents[0];
        var bytes = Payload(task, seed: 3);

        async Task Refused(StatusCode expected, Func<Task> upload, byte[] content)
        {
            Assert.Equal(expected, await StatusOf(upload));
            Assert.False(await Store.ContainsAsync(new StoredUpdate(Sha(content), content.Length)), $"{expected}: the payload was stored");
        }

        // Hash mismatch: the bytes are not what the header promised.
        await Refused(StatusCode.DataLoss, () => UploadAsync(agent, task, bytes, "sha", sha: new string('0', 64)), bytes);
        // Over the limits: a chunk, the declared total, the bytes beyond the declared total.
        var big = Pad(bytes, (1 << 20) + 100);
        await Refused(StatusCode.ResourceExhausted, () => UploadAsync(agent, task, big, "chunk", chunk: big.Length), big);
        await Refused(StatusCode.ResourceExhausted, () => UploadAsync(agent, task, bytes, "total", size: 3L << 30), bytes);
        await Refused(StatusCode.ResourceExhausted, () => UploadAsync(agent, task, bytes, "overrun", size: bytes.Length - 10), bytes);
        // Malformed or mis-shaped adapters.
        var garbage = "definitely not safetensors"u8.ToArray();
        await Refused(StatusCode.InvalidArgument, () => UploadAsync(agent, task, garbage, "garbage"), garbage);
        var foreign = Payload(task, seed: 4, shapes: ModuleShape.LlamaFamily(32, 2, ["gate_proj"]));
        await Refused(StatusCode.InvalidArgument, () => UploadAsync(agent, task, foreign, "foreign"), foreign);
        var otherBase = Payload(task, seed: 5, baseModel: "another-model");
        await Refused(StatusCode.InvalidArgument, () => UploadAsync(agent, task, otherBase, "base"), otherBase);
        await Refused(StatusCode.InvalidArgument, () => UploadAsync(agent, task, bytes, "rank", rank: task.Rank + 1), bytes);
        var declared = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agent, task, bytes, "declared", rank: task.Rank - 1));
        Assert.Equal(StatusCode.InvalidArgument, declared.StatusCode);
        Assert.Contains($"declares rank {task.Rank - 1}, but the adapter's rank is {task.Rank}", declared.Status.Detail);
        // Acting outside its own round or federation.
        await Refused(StatusCode.PermissionDenied, () => UploadAsync(agent, task, bytes, "round", round: 2), bytes);
        await Refused(StatusCode.PermissionDenied, () => UploadAsync(agent, task, bytes, "fed", federation: fed + "-other"), bytes);

        var round = await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync();
        Assert.Equal(0, round.Submitted);
    }

    /// <summary>
    /// Two clients whose v_proj ignores the grouped key/value heads (32x32) would outvote the one correct update (16x32) if
    /// updates were checked against each other; against the base model's manifest they are refused at upload, naming the
    /// module and both shapes, and the correct one is aggregated.
    /// </summary>
    [Fact]
    public async Task A_mis_shaped_majority_is_refused_at_upload_and_the_correct_update_is_aggregated()
    {
        var (fed, agents) = await StartedAsync(clients: 3, quorum: 1, grouped: true, rounds: 1);
        var wrongShapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]);
        for (int i = 0; i < 2; i++)
        {
            var (agent, task) = agents[i];
            var refused = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agent, task, Payload(task, seed: 10 + i, shapes: wrongShapes), "wrong"));
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Equal("module 'model.layers.0.self_attn.v_proj' is 32x32; the base model's layer is 16x32", refused.Status.Detail);
        }
        var (good, goodTask) = agents[2];
        Assert.Equal(UploadStatus.Accepted, (await UploadAsync(good, goodTask, Payload(goodTask, seed: 12, shapes: BaseShapes), "right")).UploadStatus);
        await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).CloseAsync();
        var closed = await WaitClosedAsync(fed, 1);
        Assert.Equal(RoundStatus.Closed, closed.Status);
        var outcome = Assert.Single(closed.Outcomes);
        Assert.True(outcome.Accepted);
        Assert.Equal(good.ClientId, outcome.ClientId);
        using var global = AdapterPayload.Read(await Store.ReadAsync(closed.Global!));
        Assert.Equal(16, global["model.layers.1.self_attn.v_proj"].OutFeatures);
    }

    /// <summary>FFA: the task hands out the federation's frozen A; an upload whose A differs is refused at upload.</summary>
    [Fact]
    public async Task Under_ffa_the_task_hands_out_the_frozen_A_and_an_upload_with_another_A_is_refused()
    {
        var (fed, agents) = await StartedAsync(clients: 2, strategy: "ffa", rounds: 1);
        var (agent, task) = agents[0];
        Assert.Equal(FrozenFactors.A, task.Frozen);
        Assert.Equal("ffa", task.Strategy);
        using var init = AdapterPayload.Read(await DownloadAsync(agent, task.InitAdapter, 0));
        Assert.Equal(task.Rank, init.PredominantRank);

        using var changedA = new LoraAdapter(init.Modules.Select(m => m.With(m.A * 1.01f, m.B + 0.1f, m.Alpha)), init.BaseModel);
        var bytes = AdapterPayload.ToBytes(changedA);
        var refused = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agent, task, bytes, "changed-a"));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("differs from the frozen A", refused.Status.Detail);
        Assert.False(await Store.ContainsAsync(new StoredUpdate(Sha(bytes), bytes.Length)));

        // A checked as the bytes flow past: one element of the A that lies last in the payload is enough.
        var initBytes = AdapterPayload.ToBytes(init);
        string last = AdapterPayload.Describe(initBytes, initBytes.Length).Modules.MaxBy(m => m.Data!.ABegin)!.Name;
        using var lastChanged = new LoraAdapter(init.Modules.Select(m => m.With(m.A.clone(), m.B + 0.1f, m.Alpha)), init.BaseModel);
        lastChanged[last].A[0, 0] += 1e-3f;
        var lastBytes = AdapterPayload.ToBytes(lastChanged);
        var lateRefusal = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agent, task, lastBytes, "changed-last-a"));
        Assert.Equal(StatusCode.InvalidArgument, lateRefusal.StatusCode);
        Assert.Contains($"module '{last}': A differs from the frozen A", lateRefusal.Status.Detail);
        Assert.False(await Store.ContainsAsync(new StoredUpdate(Sha(lastBytes), lastBytes.Length)));

        using var trainedB = new LoraAdapter(init.Modules.Select(m => m.With(m.A.clone(), m.B + 0.1f, m.Alpha)), init.BaseModel);
        Assert.Equal(UploadStatus.Accepted, (await UploadAsync(agent, task, AdapterPayload.ToBytes(trainedB), "b-only")).UploadStatus);
        Assert.Equal(1, (await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync()).Submitted);
    }

    /// <summary>A finished federation's Done says how it ended, typed, and references its whole model, which the agent may download.</summary>
    [Fact]
    public async Task Done_is_typed_and_references_the_whole_model_which_downloads()
    {
        var (fed, agents) = await StartedAsync(rounds: 1);
        foreach (var (agent, task) in agents)
            await UploadAsync(agent, task, Payload(task, seed: agent.ClientId.GetHashCode()), "u");
        await WaitClosedAsync(fed, 1);
        var (me, _) = agents[0];
        var response = await Agents.GetTaskAsync(new GetTaskRequest(), me.Auth);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (response.Done?.FinalModel is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            response = await Agents.GetTaskAsync(new GetTaskRequest(), me.Auth);
        }
        var done = response.Done ?? throw new Xunit.Sdk.XunitException($"no Done within 30 s: {response}");
        Assert.Equal(DoneStatus.Completed, done.Status);
        using var model = AdapterPayload.Read(await DownloadAsync(me, done.FinalModel, 0));
        using var round = AdapterPayload.Read(await Store.ReadAsync(new StoredUpdate(done.FinalAdapter.Sha256, done.FinalAdapter.Size)));
        foreach (var m in round.Modules)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            var expected = m.DenseDelta();
            Assert.True((model[m.Name].DenseDelta() - expected).norm().item<float>() <= 1e-5f * expected.norm().item<float>());
        }
    }

    static byte[] Pad(byte[] bytes, int length)
    {
        var padded = new byte[length];
        bytes.CopyTo(padded, 0);
        return padded;
    }

    [Fact]
    public async Task After_the_round_closes_uploads_are_refused_and_the_global_adapter_downloads_resumably()
    {
        var (fed, agents) = await StartedAsync();
        foreach (var (agent, task) in agents)
            Assert.Equal("ACCEPTED", (await UploadAsync(agent, task, Payload(task, seed: agent.ClientId.GetHashCode()), "u")).Status);
        var closed = await WaitClosedAsync(fed, 1);

        var (late, lateTask) = agents[0];
        var lateBytes = Payload(lateTask, seed: 99);
        Assert.Equal(StatusCode.FailedPrecondition, await StatusOf(() => UploadAsync(late, lateTask, lateBytes, "late")));

        var global = closed.Global!;
        var next = await Agents.GetTaskAsync(new GetTaskRequest(), late.Auth);
        // The whole chain of globals, so an agent that missed rounds can still rebuild the base.
        Assert.Equal([(1, global.Sha256)], next.Task.GlobalAdapters.Select(g => (g.Round, g.Adapter.Sha256)));
#pragma warning disable CS0612 // the deprecated field: no longer written
        Assert.Null(next.Task.GlobalAdapter);
#pragma warning restore CS0612
        var expected = await Store.ReadAsync(global);
        Assert.Equal(expected, await DownloadAsync(late, next.Task.GlobalAdapters[0].Adapter, 0));
        Assert.Equal(expected[1000..], await DownloadAsync(late, next.Task.GlobalAdapters[0].Adapter, 1000));

        var unknown = new AdapterRef { Sha256 = new string('a', 64), Size = 10 };
        Assert.Equal(StatusCode.NotFound, await StatusOf(() => DownloadAsync(late, unknown, 0)));
    }

    async Task<byte[]> DownloadAsync(Agent agent, AdapterRef adapter, long offset)
    {
        using var call = Agents.DownloadAdapter(new DownloadAdapterRequest { Adapter = adapter, Offset = offset }, agent.Auth);
        using var bytes = new MemoryStream();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(offset + bytes.Length, chunk.Offset);
            chunk.Data.WriteTo(bytes);
        }
        return bytes.ToArray();
    }

    async Task<RoundView> WaitClosedAsync(string fed, int round)
    {
        var grain = coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, round));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var view = await grain.GetAsync();
            if (view.Status == RoundStatus.Closed || DateTime.UtcNow > deadline) return view;
            await Task.Delay(50);
        }
    }
}
