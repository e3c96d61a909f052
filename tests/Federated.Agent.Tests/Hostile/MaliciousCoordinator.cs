using System.Collections.Concurrent;
using System.Net;
using Federated.Protocol.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Tests.Hostile;

/// <summary>
/// A coordinator that lies: a real gRPC server (h2c on 127.0.0.1) implementing the agent contract, which enrolls any
/// agent and then answers GetTask with the tasks queued in <see cref="Tasks"/> (Wait once they are used up) and
/// DownloadAdapter with <see cref="Serve"/>, whatever it declared. It counts what it was asked.
/// </summary>
public sealed class MaliciousCoordinator : IAsyncDisposable
{
    public const string Federation = "hostile";
    readonly WebApplication _app;

    MaliciousCoordinator(WebApplication app, Uri address) => (_app, Address) = (app, address);

    public Uri Address { get; }
    /// <summary>Answers to GetTask, in order; Wait after the last.</summary>
    public ConcurrentQueue<GetTaskResponse> Tasks { get; } = new();
    /// <summary>Answers GetTask with this task forever (after <see cref="Tasks"/> is empty) when set.</summary>
    public TrainingTask? Repeat { get; set; }
    /// <summary>What DownloadAdapter streams for a SHA-256 (from the requested offset); unknown ones get NotFound.</summary>
    public ConcurrentDictionary<string, Func<DownloadAdapterRequest, IServerStreamWriter<AdapterChunk>, ServerCallContext, Task>> Serve { get; } = new();
    public int GetTaskCalls => _service.GetTaskCalls;
    public int DownloadCalls => _service.DownloadCalls;
    public IReadOnlyCollection<string> DownloadedShas => _service.Downloaded;

    Service _service => _app.Services.GetRequiredService<Service>();

    public static async Task<MaliciousCoordinator> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(o => o.MaxSendMessageSize = null);
        builder.Services.AddSingleton<Service>();
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var coordinator = new MaliciousCoordinator(app, address);
        app.Services.GetRequiredService<Service>().Owner = coordinator;
        return coordinator;
    }

    /// <summary>Serves <paramref name="payload"/> honestly (in 64 KiB chunks from the requested offset).</summary>
    public void ServeBytes(byte[] payload)
    {
        var sha = HostilePayloads.RefOf(payload).Sha256;
        Serve[sha] = async (request, stream, context) =>
        {
            for (long offset = request.Offset; offset < payload.Length; offset += 64 << 10)
            {
                int length = (int)Math.Min(64 << 10, payload.Length - offset);
                await stream.WriteAsync(new AdapterChunk { Offset = offset, Data = ByteString.CopyFrom(payload, (int)offset, length), TotalSize = payload.Length });
            }
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    sealed class Service : AgentService.AgentServiceBase
    {
        int _getTask, _download;
        public MaliciousCoordinator Owner { get; set; } = null!;
        public int GetTaskCalls => Volatile.Read(ref _getTask);
        public int DownloadCalls => Volatile.Read(ref _download);
        public ConcurrentQueue<string> Downloaded { get; } = new();

        public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context) =>
            Task.FromResult(new RegisterResponse { ClientId = "hostile-client", ClientCredential = "hostile-client.secret", AssignedRank = 2, LoraAlpha = 4 });

        public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
            Task.FromResult(new HeartbeatResponse { ServerTime = Timestamp.FromDateTime(DateTime.UtcNow) });

        public override Task<GetTaskResponse> GetTask(GetTaskRequest request, ServerCallContext context)
        {
            Interlocked.Increment(ref _getTask);
            if (Owner.Tasks.TryDequeue(out var next)) return Task.FromResult(next);
            if (Owner.Repeat is { } task) return Task.FromResult(new GetTaskResponse { Task = task });
            return Task.FromResult(new GetTaskResponse { Wait = new Wait { Reason = "nothing for you", RetryAfter = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(300)) } });
        }

        public override async Task DownloadAdapter(DownloadAdapterRequest request, IServerStreamWriter<AdapterChunk> responseStream, ServerCallContext context)
        {
            Interlocked.Increment(ref _download);
            Downloaded.Enqueue(request.Adapter?.Sha256 ?? "");
            if (request.Adapter is null || !Owner.Serve.TryGetValue(request.Adapter.Sha256, out var serve))
                throw new RpcException(new Status(StatusCode.NotFound, "no such adapter"));
            await serve(request, responseStream, context);
        }

        public override Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UploadUpdateRequest> requestStream, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.PermissionDenied, "this coordinator takes no uploads"));

        public override Task<ReportMetricsResponse> ReportMetrics(ReportMetricsRequest request, ServerCallContext context) =>
            Task.FromResult(new ReportMetricsResponse());
    }
}
