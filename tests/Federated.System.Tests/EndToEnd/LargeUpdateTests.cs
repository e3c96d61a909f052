using System.Diagnostics;
using System.Security.Cryptography;
using Federated.Agent.Rounds;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Protocol.V1;
using Federated.SystemTests.Processes;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// An update past 2 GiB (what one byte array can hold) through the whole product, between processes: uploaded over gRPC
/// into a coordinator process, staged, admitted, aggregated, exported as the federation's model, and downloaded again over
/// gRPC and the admin API. Every step streams or reads by ranges; one int32 length anywhere on the way would fail here.
/// It moves about 13 GB through the disk in three minutes, so it runs alone (<see cref="AloneCollection"/>), not beside
/// tests that wait on deadlines.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class LargeUpdateTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>q/v of a Llama-family model 8,192 wide, 66 layers deep, at rank 256: 2,214,592,512 bytes of factors.</summary>
    const int Hidden = 8192, Layers = 66, Rank = 256, ChunkBytes = 1 << 20;
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Round = TimeSpan.FromMinutes(10);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-large-update-").FullName;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    EmbeddedCoordinator _coordinator = null!;

    /// <summary>Each step's time in the test's output: the test takes minutes.</summary>
    void Log(string step) => output.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: {step}");

    public async Task InitializeAsync() => _coordinator = await EmbeddedCoordinator.StartAsync(_dir,
        "--Coordinator:MaxUpdateBytes=2300000000", "--Coordinator:Staging:MaxBytes=2300000000");

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task An_update_over_2_GiB_is_uploaded_aggregated_exported_and_downloaded_unchanged()
    {
        const string federation = "large-update";
        // Starting the federation writes its 2.2 GB init before it answers.
        using var admin = new CoordinatorAdmin(_coordinator.Http, TimeSpan.FromMinutes(5));
        await admin.CreateFederationAsync(federation, new
        {
            baseModel = "wide-llama", targetModules = new[] { "q_proj", "v_proj" },
            rankPolicy = new { cpuRank = Rank, tiers = Array.Empty<object>() },
            aggregation = new { strategy = "fedit" },
            rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "00:30:00",
            architecture = new { hiddenSize = Hidden, numHiddenLayers = Layers, numAttentionHeads = 64, numKeyValueHeads = 64, intermediateSize = Hidden },
        });
        using var channel = GrpcChannel.ForAddress(_coordinator.Grpc, new GrpcChannelOptions { MaxReceiveMessageSize = 8 << 20 });
        var agent = new AgentService.AgentServiceClient(channel);
        var registered = await agent.RegisterAsync(new RegisterRequest
        {
            FederationId = federation, EnrollmentToken = CoordinatorAdmin.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
        });
        var auth = new Metadata { { "authorization", "Bearer " + registered.ClientCredential } };
        await admin.StartWhenEnrolledAsync(federation, Startup);
        Log("started");
        var task = await TaskAsync(agent, auth);
        Assert.Equal(Rank, task.Rank);

        // The client's update, written as the agent writes it (streamed and hashed into the file), then freed.
        string updatePath = Path.Combine(_dir, "update.safetensors");
        WrittenUpdate written;
        using (var update = Update(task.BaseModel))
            written = UpdateFile.Write(updatePath, update, compression: null, roundSeed: 1);
        Log("written");
        Assert.True(written.Size > int.MaxValue, $"{written.Size:N0} bytes");

        Assert.Equal(UploadStatus.Accepted, await UploadAsync(agent, auth, task, updatePath, written));
        Log("uploaded");
        var done = await DoneAsync(agent, auth);
        Log("done");
        Assert.Equal(DoneStatus.Completed, done.Status);

        // FedIT of one client with weight 1: the global is the update's factors, bit for bit.
        string globalPath = Path.Combine(_dir, "global.safetensors");
        await DownloadAsync(agent, auth, done.FinalAdapter, globalPath);
        Log("downloaded");
        Assert.True(done.FinalAdapter.Size > int.MaxValue, $"{done.FinalAdapter.Size:N0} bytes");
        using (var sent = AdapterPayload.ReadFile(updatePath))
        using (var global = AdapterPayload.ReadFile(globalPath))
        {
            Assert.Equal(sent.Modules.Select(m => m.Name), global.Modules.Select(m => m.Name));
            foreach (var (s, g) in sent.Modules.Zip(global.Modules))
                Assert.True(s.A.equal(g.A).all().item<bool>() && s.B.equal(g.B).all().item<bool>() && s.Scale == g.Scale, $"{s.Name} differs in the global");
        }

        Log("compared");
        // The federation's whole model, past 2 GiB as well, streamed out of the admin API: its bytes are the ones referenced.
        Assert.True(done.FinalModel.Size > int.MaxValue, $"{done.FinalModel.Size:N0} bytes");
        var (sha, size) = await admin.HashDownloadAsync($"/api/federations/{federation}/model");
        Assert.Equal((done.FinalModel.Sha256, done.FinalModel.Size), (sha, size));
    }

    /// <summary>Random factors at the task's rank for every q/v module of the architecture, in float32.</summary>
    static LoraAdapter Update(string baseModel)
    {
        var generator = new Generator(7);
        var shapes = ModuleShape.LlamaFamily(Hidden, Layers, ["q_proj", "v_proj"], Hidden);
        return new LoraAdapter(shapes.Select(s => new LoraModule(s.Name,
            randn([Rank, s.InFeatures], generator: generator) * 0.01, randn([s.OutFeatures, Rank], generator: generator) * 0.01, alpha: 2 * Rank)), baseModel);
    }

    static async Task<TrainingTask> TaskAsync(AgentService.AgentServiceClient agent, Metadata auth)
    {
        var deadline = DateTime.UtcNow + Startup;
        while (true)
        {
            var response = await agent.GetTaskAsync(new GetTaskRequest(), auth);
            if (response.OutcomeCase == GetTaskResponse.OutcomeOneofCase.Task) return response.Task;
            Assert.True(DateTime.UtcNow < deadline, $"no task: {response}");
            await Task.Delay(250);
        }
    }

    static async Task<Done> DoneAsync(AgentService.AgentServiceClient agent, Metadata auth)
    {
        var deadline = DateTime.UtcNow + Round;
        while (true)
        {
            var response = await agent.GetTaskAsync(new GetTaskRequest(), auth);
            if (response.OutcomeCase == GetTaskResponse.OutcomeOneofCase.Done && response.Done.FinalModel is not null) return response.Done;
            Assert.True(DateTime.UtcNow < deadline, $"the federation did not finish: {response}");
            await Task.Delay(500);
        }
    }

    /// <summary>A header, then the file in 1 MiB data messages, as agents send it.</summary>
    static async Task<UploadStatus> UploadAsync(AgentService.AgentServiceClient agent, Metadata auth, TrainingTask task, string path, WrittenUpdate written)
    {
        using var call = agent.UploadUpdate(auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = $"r{task.Round}-large", FederationId = task.FederationId, Round = task.Round, Sha256 = written.Sha256,
                Size = written.Size, Offset = 0, ExampleCount = 100, Rank = task.Rank,
            },
        });
        await using (var file = File.OpenRead(path))
        {
            var buffer = new byte[ChunkBytes];
            int read;
            while ((read = await file.ReadAsync(buffer)) > 0)
                await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(buffer, 0, read) });
        }
        await call.RequestStream.CompleteAsync();
        return (await call).UploadStatus;
    }

    static async Task DownloadAsync(AgentService.AgentServiceClient agent, Metadata auth, AdapterRef adapter, string path)
    {
        using var call = agent.DownloadAdapter(new DownloadAdapterRequest { Adapter = adapter }, auth);
        await using var file = File.Create(path);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(file.Position, chunk.Offset);
            hash.AppendData(chunk.Data.Span);
            await file.WriteAsync(chunk.Data.Memory);
        }
        Assert.Equal((adapter.Sha256, adapter.Size), (Convert.ToHexStringLower(hash.GetHashAndReset()), file.Length));
    }
}
