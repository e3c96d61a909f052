using System.Net;
using System.Net.Sockets;
using Federated.Coordinator.Hosting;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Federated.Contracts;

namespace Federated.Simulator.Runtime;

/// <summary>
/// The real coordinator (the same silo wiring as the host, embedded mode, state in memory) inside the simulator's
/// process on free loopback ports. Virtual clients reach its grains and update store directly, not over gRPC.
/// </summary>
public sealed class SimulatedCoordinator : IAsyncDisposable
{
    readonly IHost _host;

    SimulatedCoordinator(IHost host) => _host = host;

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();
    public IContentStore Store => _host.Services.GetRequiredService<IContentStore>();

    public static async Task<SimulatedCoordinator> StartAsync(string dataDirectory, CancellationToken cancellation = default)
    {
        // Ports are found free, then bound by the silo: another process can take one in between (parallel test runs do),
        // so a start that finds its port taken is retried on fresh ports.
        for (int attempt = 1; ; attempt++)
        {
            var host = Build(dataDirectory);
            try
            {
                await host.StartAsync(cancellation);
                return new SimulatedCoordinator(host);
            }
            catch (Exception e) when (attempt < 5 && PortTaken(e))
            {
                host.Dispose();
            }
        }
    }

    static bool PortTaken(Exception? e) =>
        e is not null && (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || PortTaken(e.InnerException));

    static IHost Build(string dataDirectory)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // The coordinator's own warnings (e.g. a round that could not advance) matter; the runtime's chatter does not.
        builder.Logging.AddFilter((category, level) => level >= LogLevel.Error || (level >= LogLevel.Warning && category?.StartsWith("Federated", StringComparison.Ordinal) == true));
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        var options = new CoordinatorOptions
        {
            Mode = CoordinatorMode.Embedded, DataDirectory = dataDirectory, InMemoryState = true,
            SiloPort = FreePort(), GatewayPort = FreePort(),
        };
        builder.UseOrleans(silo => silo.AddFederatedCoordinator(options));
        return builder.Build();
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
