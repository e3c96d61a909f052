using Federated.Agent.Devices;
using Federated.Agent.Remote;
using Federated.Protocol.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Hosting;

/// <summary>
/// Tells the coordinator the agent is alive while it trains (GetTask counts too, but a round can train for long).
/// The first heartbeat after a start carries the device, in case the hardware changed since enrollment.
/// </summary>
public sealed class HeartbeatWorker(CoordinatorConnection connection, Enrollment enrollment, DetectedDevice device, AgentOptions options,
    ILogger<HeartbeatWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        bool deviceSent = false;
        using var timer = new PeriodicTimer(options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (enrollment.Current is null) continue;
                try
                {
                    var request = deviceSent ? new HeartbeatRequest() : new HeartbeatRequest { Device = device.ToProto() };
                    await connection.Client.HeartbeatAsync(request, connection.Options(stoppingToken, TimeSpan.FromSeconds(20)));
                    deviceSent = true;
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested && e is Grpc.Core.RpcException or HttpRequestException or IOException)
                {
                    logger.LogWarning("Heartbeat failed ({Reason})", RetryPolicy.Describe(e));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
