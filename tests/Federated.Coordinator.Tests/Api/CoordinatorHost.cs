using System.Net;
using System.Net.Sockets;
using Federated.Coordinator.Hosting;

namespace Federated.Coordinator.Tests.Api;

/// <summary>
/// The real coordinator (same <see cref="CoordinatorApplication"/> wiring as Program.cs, same appsettings.json) on
/// free loopback ports: Kestrel on port 0, an embedded silo with its own silo and gateway ports, state in memory,
/// updates under a temporary directory.
/// </summary>
public sealed class CoordinatorHost : IAsyncLifetime
{
    readonly string _data = Directory.CreateTempSubdirectory("fed-coordinator-").FullName;
    WebApplication? _app;

    public WebApplication App => _app ?? throw new InvalidOperationException("not started");
    public Uri Address { get; private set; } = null!;
    /// <summary>The agents' gRPC endpoint (h2c on loopback).</summary>
    public Uri GrpcAddress { get; private set; } = null!;
    /// <summary>Accepted for every federation.</summary>
    public const string EnrollmentToken = "test-enrollment-token-0123456789";
    /// <summary>Sends <see cref="TestOperators.AdminKey"/>.</summary>
    public HttpClient Http { get; private set; } = null!;
    public IGrainFactory Grains => App.Services.GetRequiredService<IGrainFactory>();
    /// <summary>More command-line settings, after (and so over) the defaults, for a host of a test's own.</summary>
    public string[] ExtraArgs { get; init; } = [];

    /// <summary>
    /// For a second host in this test process: stop it at the end but leave its services (and so its meters) alive until
    /// the process exits. OpenTelemetry listens to meters by name across the process, and disposing this host's
    /// Federated.Coordinator meter would end the metric streams the shared host exports on /metrics.
    /// </summary>
    public bool KeepServicesUntilExit { get; init; }

    public async Task InitializeAsync()
    {
        int grpcPort = FreePort();
        string[] args =
        [
            "--Coordinator:InMemoryState=true",
            $"--Coordinator:DataDirectory={_data}",
            $"--Coordinator:SiloPort={FreePort()}",
            $"--Coordinator:GatewayPort={FreePort()}",
            "--Kestrel:Endpoints:http:Url=http://127.0.0.1:0",
            $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{grpcPort}",
            $"--Coordinator:EnrollmentTokens:*:0={EnrollmentToken}",
            "--Serilog:MinimumLevel:Default=Warning",
            .. TestOperators.Args,
            .. ExtraArgs,
        ];
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddCoordinator();
        _app = builder.Build();
        _app.UseCoordinator();
        await _app.StartAsync();
        GrpcAddress = new Uri($"http://127.0.0.1:{grpcPort}");
        Address = new Uri(_app.Urls.Single(u => new Uri(u).Port != grpcPort));
        Http = TestOperators.Client(Address);
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            if (!KeepServicesUntilExit) await _app.DisposeAsync();
        }
        Directory.Delete(_data, recursive: true);
    }

    public static int FreePort() => FreePorts.Loopback();

    public static string NewId(string prefix = "fed") => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
}

/// <summary>One coordinator for the API, CLI and end-to-end tests: a silo takes seconds to start.</summary>
[CollectionDefinition(Name)]
public sealed class CoordinatorCollection : ICollectionFixture<CoordinatorHost>
{
    public const string Name = "coordinator";
}
