using System.Security.Cryptography;
using System.Text.Json;
using Federated.Contracts;
using Federated.Coordinator.Tests.Api;
using Federated.Core.Compression;
using Federated.Core.Formats.Safetensors;
using Federated.Grains;
using Federated.Protocol.V1;
using Federated.Storage;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>
/// A top-k upload of a few KB (four modules) declaring factors that expand to gigabytes, over real gRPC to the real coordinator: refused with
/// InvalidArgument from its header, nothing stored, and the process's peak memory barely moves.
/// </summary>
[Collection(CoordinatorCollection.Name)]
public sealed class CompressedBombTests(CoordinatorHost coordinator) : IDisposable
{
    /// <summary>hidden 32, 2 layers: q_proj and v_proj are 32x32.</summary>
    static readonly ModelArchitecture Architecture = new(32, 2, 4, 4, 64);
    static readonly string[] Modules = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"];
    readonly GrpcChannel _channel = GrpcChannel.ForAddress(coordinator.GrpcAddress);
    AgentService.AgentServiceClient Agents => new(_channel);
    IContentStore Store => coordinator.App.Services.GetRequiredService<IContentStore>();

    public void Dispose() => _channel.Dispose();

    /// <summary>
    /// A top-k payload of <see cref="Modules"/> at rank 4, one kept entry per factor: each module declared (and its shape
    /// tensors claiming) <c>declared(module)</c> as (in, out), with <paramref name="dataA"/> overriding what the first module's
    /// A shape tensor claims.
    /// </summary>
    static byte[] TopK(Func<string, (int In, int Out)> declared, (long Rows, long Columns)? dataA = null)
    {
        const int rank = 4;
        var metadata = new Dictionary<string, string>
        {
            [CompressedAdapterFile.SchemeMetadataKey] = "topk",
            [CompressedAdapterFile.ModulesMetadataKey] = JsonSerializer.Serialize(Modules.Select(m => new { name = m, alpha = 8.0, rank, @in = declared(m).In, @out = declared(m).Out })),
            [CompressedAdapterFile.RsLoraMetadataKey] = "false",
            [CompressedAdapterFile.BaseModelMetadataKey] = "tiny-llama",
        };
        var tensors = new List<(string, Tensor)>();
        foreach (var m in Modules)
        {
            var a = m == Modules[0] && dataA is { } forged ? forged : (rank, declared(m).In);
            foreach (var (key, (rows, columns)) in new[] { ($"base_model.model.{m}.lora_A.weight", a), ($"base_model.model.{m}.lora_B.weight", ((long)declared(m).Out, (long)rank)) })
            {
                tensors.Add(($"{key}.shape", tensor(new[] { rows, columns })));
                tensors.Add(($"{key}.indices", tensor(new[] { 0 })));
                tensors.Add(($"{key}.values", tensor(new[] { 1f })));
            }
        }
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, tensors, metadata);
        foreach (var (_, t) in tensors) t.Dispose();
        return buffer.ToArray();
    }

    async Task<(Metadata Auth, TrainingTask Task)> StartedAsync()
    {
        string fed = CoordinatorHost.NewId("bomb");
        await coordinator.Grains.GetGrain<IFederationGrain>(fed).CreateAsync(FederationConfig.Default("tiny-llama", Architecture) with
        {
            Rounds = 1, ClientsPerRound = 1, Quorum = 1, RankPolicy = RankPolicy.Fixed(4),
        });
        var registered = await Agents.RegisterAsync(new RegisterRequest { FederationId = fed, EnrollmentToken = CoordinatorHost.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" } });
        var auth = new Metadata { { "authorization", "Bearer " + registered.ClientCredential } };
        await coordinator.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var task = (await Agents.GetTaskAsync(new GetTaskRequest(), auth)).Task ?? throw new Xunit.Sdk.XunitException("no task");
        return (auth, task);
    }

    async Task<RpcException> UploadAsync(Metadata auth, TrainingTask task, byte[] bytes, string uploadId)
    {
        using var call = Agents.UploadUpdate(auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = uploadId, FederationId = task.FederationId, Round = task.Round, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                Size = bytes.Length, ExampleCount = 10, Rank = task.Rank,
            },
        });
        await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(bytes) });
        await call.RequestStream.CompleteAsync();
        return await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
    }

    [Fact]
    public async Task A_topk_bomb_of_a_few_kilobytes_is_refused_with_InvalidArgument_and_nothing_is_stored()
    {
        var (auth, task) = await StartedAsync();
        // Every module declared 200,000,000 x 200,000,000 at rank 4: 25.6 GB of float32 once expanded.
        var bomb = TopK(_ => (200_000_000, 200_000_000));
        Assert.True(bomb.Length < 4096, $"{bomb.Length} bytes");

        RpcException? refused = null;
        long growth = await PeakMemory.GrowthDuringAsync(async () => refused = await UploadAsync(auth, task, bomb, "bomb"));

        Assert.Equal(StatusCode.InvalidArgument, refused!.StatusCode);
        Assert.Equal("module 'model.layers.0.self_attn.q_proj' is 200000000x200000000; the base model's layer is 32x32", refused.Status.Detail);
        Assert.False(await Store.ContainsAsync(new StoredUpdate(Convert.ToHexStringLower(SHA256.HashData(bomb)), bomb.Length)));
        Assert.True(growth < 100L << 20, $"the coordinator's peak memory grew by {growth:N0} bytes");
    }

    [Fact]
    public async Task A_bomb_that_declares_the_right_shapes_but_whose_data_claims_bigger_ones_is_refused_before_decompression()
    {
        var (auth, task) = await StartedAsync();
        var liar = TopK(_ => (32, 32), dataA: (4, 500_000_000));

        RpcException? refused = null;
        long growth = await PeakMemory.GrowthDuringAsync(async () => refused = await UploadAsync(auth, task, liar, "liar"));

        Assert.Equal(StatusCode.InvalidArgument, refused!.StatusCode);
        Assert.Contains("is declared as rank 4, 32x32, but its data describes A 4x500000000", refused.Status.Detail);
        Assert.False(await Store.ContainsAsync(new StoredUpdate(Convert.ToHexStringLower(SHA256.HashData(liar)), liar.Length)));
        Assert.True(growth < 100L << 20, $"the coordinator's peak memory grew by {growth:N0} bytes");
        Assert.Equal(0, (await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(task.FederationId, 1)).GetAsync()).Submitted);
    }
}

/// <summary>Peak resident memory of this process (the in-process coordinator), from Linux's high-water mark, reset through /proc/self/clear_refs.</summary>
static class PeakMemory
{
    public static async Task<long> GrowthDuringAsync(Func<Task> action)
    {
        GC.Collect();
        long before = Read("VmRSS");
        await File.WriteAllTextAsync("/proc/self/clear_refs", "5");
        await action();
        return Read("VmHWM") - before;
    }

    static long Read(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
