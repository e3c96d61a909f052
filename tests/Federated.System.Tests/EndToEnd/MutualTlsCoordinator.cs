using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// An embedded coordinator process whose agents' endpoint serves TLS on 127.0.0.1 and asks agents for client certificates
/// (<c>Coordinator:Agents:ClientCertificates</c>) issued by a private agents' CA; a second CA issues certificates the
/// coordinator must not trust. Shared by the tests of <see cref="RequiredClientCertificateTests"/> and <see cref="OptionalClientCertificateTests"/>.
/// </summary>
public abstract class MutualTlsCoordinator(string requirement) : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90);
    CoordinatorProcess _process = null!;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("fed-agent-mtls-").FullName;
    public CertificateFiles Pki { get; private set; } = null!;
    /// <summary>Issues the agents' client certificates the coordinator trusts.</summary>
    public TestCertificateAuthority AgentsCa { get; private set; } = null!;
    /// <summary>A CA the coordinator knows nothing of.</summary>
    public TestCertificateAuthority ForeignCa { get; private set; } = null!;
    public Uri Grpc { get; private set; } = null!;
    public CoordinatorAdmin Admin { get; private set; } = null!;
    public string Model { get; private set; } = "";
    public string Data { get; private set; } = "";
    public string Output => _process.Output + _process.Error;

    public async Task InitializeAsync()
    {
        Pki = TestCertificates.PrivatePki(Directory);
        AgentsCa = new TestCertificateAuthority(Directory, "agents-ca");
        ForeignCa = new TestCertificateAuthority(Directory, "foreign-ca");
        Model = TestFiles.TinyModel(Path.Combine(Directory, "base"));
        Data = TestFiles.TextSlice(Path.Combine(Directory, "data.txt"), "GPL-3", 0, 4000);
        var (args, http, plaintextGrpc) = CoordinatorAdmin.ProcessArgs(
            "--Coordinator:InMemoryState=true", $"--Coordinator:DataDirectory={Path.Combine(Directory, "coordinator")}",
            $"--Coordinator:Agents:ClientCertificates={requirement}", $"--Coordinator:Agents:ClientCaPath={AgentsCa.Certificate}");
        Grpc = new UriBuilder(plaintextGrpc) { Scheme = Uri.UriSchemeHttps }.Uri;
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
        AgentsCa?.Dispose();
        ForeignCa?.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>Creates a one-round federation for one agent of the tiny model.</summary>
    public Task CreateFederationAsync(string federation) => Admin.CreateFederationAsync(federation, new
    {
        baseModel = "tiny-llama", targetModules = new[] { "q_proj", "v_proj" },
        rankPolicy = new { cpuRank = 2, tiers = Array.Empty<object>() }, training = new { localSteps = 2, batchSize = 4, learningRate = 0.01 },
        rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "5m",
    });

    /// <summary>Flags for an agent of <paramref name="federation"/> that trusts the server's CA, with its own state directory.</summary>
    public string[] AgentArgs(string federation, string state, params string[] extra) =>
    [
        "--coordinator", Grpc.ToString(), "--ca-cert", Pki.CaCertificate, "--federation", federation, "--token", CoordinatorAdmin.EnrollmentToken,
        "--state", Path.Combine(Directory, state), "--model", Model, "--data", Data, "--max-seq-len", "64",
        "--Agent:PollInterval=00:00:01", .. extra,
    ];
}

public sealed class RequiredClientCertificatesCoordinator() : MutualTlsCoordinator("Required");

public sealed class OptionalClientCertificatesCoordinator() : MutualTlsCoordinator("Optional");
