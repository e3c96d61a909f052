using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using AgentEndpoint = Federated.Coordinator.Agents.AgentEndpoint;
using UploadMessages = Federated.Coordinator.Agents.UploadMessages;
using Federated.Coordinator.Hosting;
using Federated.Protocol.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Federated.Benchmarks.Upload;

/// <summary>
/// The gRPC transport alone: a process that serves <c>UploadUpdate</c> with the coordinator's gRPC and Kestrel settings
/// (message limit, HTTP/2 windows) but discards the data, with no authentication, hashing, staging or grains. The upload
/// benchmark's third baseline: what gRPC over HTTP/2 itself costs on this machine, next to the raw socket copy.
/// <para>
/// Given a Redis, the ingest benchmark's floor instead (<see cref="StoringAgentService"/>): the least a coordinator that
/// keeps content-addressed uploads in Redis must do per byte, on the coordinator's own transport (its pooled Kestrel blocks,
/// its pooled message parsing, its StackExchange.Redis request buffers): receive each data message, hash it into the
/// upload's SHA-256 and APPEND it to one Redis key, then compare the digest with the declared one. <c>POST /read-back</c>
/// then does the least a FedAvg over those uploads must: GET each payload back and add its float32 values, weighted, into one
/// accumulator. No authentication, admission, staging state, grains or logging.
/// </para>
/// </summary>
static class UploadSink
{
    static readonly int MaxChunkBytes = new CoordinatorOptions().MaxChunkBytes;

    public static async Task<int> RunAsync(int port, string? redis = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = MaxChunkBytes + 4096);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenLocalhost(port, listen => listen.Protocols = HttpProtocols.Http2);
            AgentEndpoint.SizeWindowsForUploads(kestrel.Limits.Http2, MaxChunkBytes);
        });
        if (redis is not null)
        {
            builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
            var options = ConfigurationOptions.Parse(redis);
            options.RequestBufferPool = new LargeBlockMemoryPool();
            builder.Services.AddSingleton<IConnectionMultiplexer>(await ConnectionMultiplexer.ConnectAsync(options));
            builder.Services.AddSingleton<StoredKeys>();
        }
        var app = builder.Build();
        if (redis is null)
            app.MapGrpcService<DiscardingAgentService>();
        else
        {
            app.MapGrpcService<StoringAgentService>();
            app.MapPost("/read-back", (StoredKeys keys, IConnectionMultiplexer multiplexer) => ReadBackAsync(keys, multiplexer.GetDatabase()));
        }
        await app.RunAsync();
        return 0;
    }

    sealed class DiscardingAgentService : AgentService.AgentServiceBase
    {
        public override async Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UploadUpdateRequest> requestStream, ServerCallContext context)
        {
            if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.Header is not { } header)
                throw new RpcException(new Status(StatusCode.InvalidArgument, "an upload starts with a header message"));
            long received = 0;
            while (await requestStream.MoveNext(context.CancellationToken))
                received += requestStream.Current.Data.Length;
            if (received != header.Size)
                throw new RpcException(new Status(StatusCode.DataLoss, $"received {received:N0} of {header.Size:N0} bytes"));
            return new UploadUpdateResponse { Status = "ACCEPTED", UploadStatus = UploadStatus.Accepted, AcknowledgedOffset = received };
        }
    }

    /// <summary>The keys stored since the last read-back (a round's uploads).</summary>
    sealed class StoredKeys
    {
        public ConcurrentQueue<RedisKey> Keys { get; } = new();

        public RedisKey[] Take()
        {
            var keys = new List<RedisKey>();
            while (Keys.TryDequeue(out var key)) keys.Add(key);
            return [.. keys];
        }
    }

    [BindServiceMethod(typeof(UploadMessages), nameof(UploadMessages.BindService))]
    sealed class StoringAgentService(IConnectionMultiplexer redis, StoredKeys stored) : AgentService.AgentServiceBase
    {
        public override async Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UploadUpdateRequest> requestStream, ServerCallContext context)
        {
            if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.Header is not { } header)
                throw new RpcException(new Status(StatusCode.InvalidArgument, "an upload starts with a header message"));
            var db = redis.GetDatabase();
            RedisKey key = $"sink:{header.Sha256}";
            await db.KeyDeleteAsync(key);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long received = 0;
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var message = requestStream.Current;
                sha.AppendData(message.Data.Span);
                await db.StringAppendAsync(key, message.Data.Memory);
                received += message.Data.Length;
                UploadMessages.Release(message);
            }
            if (received != header.Size || Convert.ToHexStringLower(sha.GetHashAndReset()) != header.Sha256)
                throw new RpcException(new Status(StatusCode.DataLoss, $"received {received:N0} of {header.Size:N0} bytes, or not the declared ones"));
            stored.Keys.Enqueue(key);
            return new UploadUpdateResponse { Status = "ACCEPTED", UploadStatus = UploadStatus.Accepted, AcknowledgedOffset = received };
        }
    }

    /// <summary>
    /// Every payload stored since the last read-back (a round's) back from Redis, two GETs in flight, as the two cores can add:
    /// its float32 data (after the safetensors header) multiplied by its weight and added into one accumulator. FedAvg's reads
    /// and arithmetic, nothing else.
    /// </summary>
    static async Task<IResult> ReadBackAsync(StoredKeys stored, IDatabase db)
    {
        var keys = stored.Take();
        var clock = Stopwatch.StartNew();
        float[]? sum = null;
        var gate = new object();
        long bytes = 0;
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < keys.Length)
            {
                using var lease = await db.StringGetLeaseAsync(keys[i]) ?? throw new InvalidOperationException($"'{keys[i]}' is gone");
                var payload = lease.Span;
                int start = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(payload);
                var values = MemoryMarshal.Cast<byte, float>(payload[start..]);
                lock (gate)
                {
                    sum ??= new float[values.Length];
                    TensorPrimitives.MultiplyAdd(values, 1f / keys.Length, sum, sum);
                }
                Interlocked.Add(ref bytes, payload.Length);
            }
        }));
        return Results.Json(new { payloads = keys.Length, bytes, seconds = clock.Elapsed.TotalSeconds });
    }
}
