using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// A coordinator process in cluster mode on a real redis-server whose agents' endpoint serves gRPC over TLS on
/// 127.0.0.1, with a server certificate from PEM files signed by a private CA made for the run; shared by the tests of
/// <see cref="TlsFederationTests"/>, with a tiny base model and a text slice for their agents.
/// </summary>
public sealed class TlsCoordinator : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90);
    readonly RedisServer _redis = new();
    CoordinatorProcess _process = null!;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("fed-agent-tls-").FullName;
    /// <summary>The private PKI the coordinator's certificate comes from.</summary>
    public CertificateFiles Pki { get; private set; } = null!;
    /// <summary>The agents' endpoint: https://127.0.0.1:port.</summary>
    public Uri Grpc { get; private set; } = null!;
    public CoordinatorAdmin Admin { get; private set; } = null!;
    public string Model { get; private set; } = "";
    public string Data { get; private set; } = "";
    public string Output => _process.Output + _process.Error;

    public async Task InitializeAsync()
    {
        Pki = TestCertificates.PrivatePki(Directory);
        Model = TestFiles.TinyModel(Path.Combine(Directory, "base"));
        Data = TestFiles.TextSlice(Path.Combine(Directory, "data.txt"), "GPL-3", 0, 4000);
        await _redis.InitializeAsync();
        var (args, http, plaintextGrpc) = CoordinatorAdmin.ProcessArgs(
            "--Coordinator:Mode=Cluster", $"--Coordinator:Redis={_redis.Configuration}", "--Coordinator:AdvertisedAddress=127.0.0.1",
            $"--Coordinator:ClusterId=tls-{Guid.NewGuid():N}");
        Grpc = new UriBuilder(plaintextGrpc) { Scheme = Uri.UriSchemeHttps }.Uri;
        // The keys an operator sets (appsettings.Cluster.json, the Helm chart); a later flag overrides the earlier plaintext Url.
        _process = CoordinatorProcess.Start(
        [
            .. args, $"--Kestrel:Endpoints:grpc:Url={Grpc}",
            $"--Kestrel:Endpoints:grpc:Certificate:Path={Pki.ServerCertificate}", $"--Kestrel:Endpoints:grpc:Certificate:KeyPath={Pki.ServerKey}",
        ]);
        await _process.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), Startup);
        Admin = new CoordinatorAdmin(http);
    }

    public async Task DisposeAsync()
    {
        Admin?.Dispose();
        if (_process is not null)
        {
            await _process.StopAsync(TimeSpan.FromSeconds(60));
            _process.Dispose();
        }
        await _redis.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>Flags for an agent of <paramref name="federation"/> at this coordinator, with its own state directory.</summary>
    public string[] AgentArgs(string federation, string state, params string[] extra) =>
    [
        "--coordinator", Grpc.ToString(), "--federation", federation, "--token", CoordinatorAdmin.EnrollmentToken,
        "--state", Path.Combine(Directory, state), "--model", Model, "--data", Data, "--max-seq-len", "64",
        "--Agent:PollInterval=00:00:01", .. extra,
    ];
}
