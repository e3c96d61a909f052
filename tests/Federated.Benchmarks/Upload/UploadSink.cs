using Federated.Coordinator.Hosting;
using Federated.Protocol.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Federated.Benchmarks.Upload;

/// <summary>
/// The gRPC transport alone: a process that serves <c>UploadUpdate</c> with the coordinator's gRPC and Kestrel settings
/// (message limit, HTTP/2 windows) but discards the data, with no authentication, hashing, staging or grains. The upload
/// benchmark's third baseline: what gRPC over HTTP/2 itself costs on this machine, next to the raw socket copy.
/// </summary>
static class UploadSink
{
    static readonly int MaxChunkBytes = new CoordinatorOptions().MaxChunkBytes;

    public static async Task<int> RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = MaxChunkBytes + 4096);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenLocalhost(port, listen => listen.Protocols = HttpProtocols.Http2);
            Federated.Coordinator.Agents.AgentEndpoint.SizeWindowsForUploads(kestrel.Limits.Http2, MaxChunkBytes);
        });
        var app = builder.Build();
        app.MapGrpcService<DiscardingAgentService>();
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
}
