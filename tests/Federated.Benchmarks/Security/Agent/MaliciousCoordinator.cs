using System.Net;
using Federated.Protocol.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Federated.Benchmarks.Security.Agent;

/// <summary>
/// What the hostile coordinator answers once armed: a training task whose history lists <see cref="Globals"/>, and
/// <see cref="Serve"/> for every DownloadAdapter. Until armed it tells the agent to wait, so the agent's baseline is taken idle.
/// </summary>
sealed class HostileScript(IReadOnlyList<AdapterRef> globals, Func<DownloadAdapterRequest, IServerStreamWriter<AdapterChunk>, CancellationToken, Task<long>> serve)
{
    int _getTasks, _downloads;
    long _bytesSent;

    public IReadOnlyList<AdapterRef> Globals => globals;
    public volatile bool Armed;
    public int GetTaskCalls => Volatile.Read(ref _getTasks);
    public int DownloadCalls => Volatile.Read(ref _downloads);
    /// <summary>Bytes the agent accepted from every download (what the server could write; flow control stops the rest).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    internal void CountGetTask() => Interlocked.Increment(ref _getTasks);

    internal async Task ServeAsync(DownloadAdapterRequest request, IServerStreamWriter<AdapterChunk> stream, CancellationToken ct)
    {
        Interlocked.Increment(ref _downloads);
        Interlocked.Add(ref _bytesSent, await serve(request, stream, ct));
    }
}

/// <summary>
/// A coordinator that attacks its agents: a Kestrel gRPC server (in the suite's process, loopback h2c) implementing the
/// agents' contract with hostile answers from a <see cref="HostileScript"/>. Enrollment always succeeds.
/// </summary>
sealed class MaliciousCoordinator : IAsyncDisposable
{
    readonly WebApplication _app;

    MaliciousCoordinator(WebApplication app, Uri address) => (_app, Address) = (app, address);

    public Uri Address { get; }

    public static async Task<MaliciousCoordinator> StartAsync(HostileScript script)
    {
        int port = CoordinatorLaunch.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(script);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<HostileAgentService>();
        await app.StartAsync();
        return new MaliciousCoordinator(app, new Uri($"http://127.0.0.1:{port}"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Writes <paramref name="bytes"/> from the request's offset in 64 KiB chunks; returns how many were written.</summary>
    public static async Task<long> WriteAsync(ReadOnlyMemory<byte> bytes, long declaredTotal, DownloadAdapterRequest request, IServerStreamWriter<AdapterChunk> stream, CancellationToken ct)
    {
        long offset = Math.Min(request.Offset, bytes.Length), written = 0;
        while (offset < bytes.Length && !ct.IsCancellationRequested)
        {
            int n = (int)Math.Min(64 << 10, bytes.Length - offset);
            await stream.WriteAsync(new AdapterChunk { Offset = offset, Data = Google.Protobuf.ByteString.CopyFrom(bytes.Span.Slice((int)offset, n)), TotalSize = declaredTotal }, ct);
            offset += n;
            written += n;
        }
        return written;
    }

    sealed class HostileAgentService(HostileScript script) : AgentService.AgentServiceBase
    {
        const string ClientId = "c-5ec0000000000001";

        public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context) =>
            Task.FromResult(new RegisterResponse { ClientId = ClientId, ClientCredential = ClientId + ".hostile-secret", AssignedRank = 4, LoraAlpha = 8 });

        public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
            Task.FromResult(new HeartbeatResponse { ServerTime = Timestamp.FromDateTime(DateTime.UtcNow) });

        public override Task<GetTaskResponse> GetTask(GetTaskRequest request, ServerCallContext context)
        {
            script.CountGetTask();
            if (!script.Armed)
                return Task.FromResult(new GetTaskResponse { Wait = new Wait { RetryAfter = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(200)), Reason = "not yet" } });
            var task = new TrainingTask
            {
                FederationId = AttackedAgent.Federation, Round = 1, BaseModel = "tiny", Rank = 4, LoraAlpha = 8,
                Training = new TrainingPlan { LocalSteps = 1, BatchSize = 1, LearningRate = 1e-3 },
                Deadline = Timestamp.FromDateTime(DateTime.UtcNow.AddHours(1)), Seed = 1, Strategy = "flora",
            };
            task.TargetModules.Add(["q_proj", "v_proj"]);
            task.GlobalAdapters.Add(script.Globals.Select((g, i) => new RoundAdapter { Round = i + 1, Adapter = g }));
            return Task.FromResult(new GetTaskResponse { Task = task });
        }

        public override Task DownloadAdapter(DownloadAdapterRequest request, IServerStreamWriter<AdapterChunk> responseStream, ServerCallContext context) =>
            script.ServeAsync(request, responseStream, context.CancellationToken);

        public override Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UploadUpdateRequest> requestStream, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "this coordinator takes no uploads"));

        public override Task<ReportMetricsResponse> ReportMetrics(ReportMetricsRequest request, ServerCallContext context) =>
            Task.FromResult(new ReportMetricsResponse());
    }
}
