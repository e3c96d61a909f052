using System.Net;
using Federated.Agent.Remote;
using Federated.SystemTests.Processes;
using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// Mutual TLS between agents and a real coordinator process (<c>Coordinator:Agents:ClientCertificates</c>), through the
/// agent's own connection class and a real fed-agent: certificates must chain to the agents' CA, and a client id is bound
/// to the certificate key it enrolled with, so its credential is refused with any other certificate.
/// </summary>
public static class MutualTls
{
    public static readonly TimeSpan Call = TimeSpan.FromSeconds(20);

    public static CoordinatorConnection Connect(MutualTlsCoordinator coordinator, ClientCertificateFiles? certificate) =>
        new(coordinator.Grpc, coordinator.Pki.CaCertificate, clientCertificate: certificate is null ? null : ClientCertificateFile.Load(certificate.Certificate, certificate.Key));

    public static async Task<RegisterResponse> RegisterAsync(CoordinatorConnection connection, string federation) =>
        await connection.Client.RegisterAsync(new RegisterRequest
        {
            FederationId = federation, EnrollmentToken = CoordinatorAdmin.EnrollmentToken,
            Device = new DeviceInfo { Device = "cpu", AgentVersion = "test" },
        }, connection.Options(default, Call));

    public static async Task<StatusCode> HeartbeatAsync(CoordinatorConnection connection, string credential)
    {
        connection.UseCredential(credential);
        try
        {
            await connection.Client.HeartbeatAsync(new HeartbeatRequest(), connection.Options(default, Call));
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    /// <summary>The connection ends at the TLS layer: no gRPC status from the service, and nothing enrolled (start still waits for an agent).</summary>
    public static async Task AssertRefusedAtTlsAsync(MutualTlsCoordinator coordinator, CoordinatorConnection connection, string federation)
    {
        var refused = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(connection, federation));
        // The server ends the connection after the handshake, before HTTP/2 starts: gRPC reports it as Unavailable or, when
        // it notices while starting the call, Internal; never a status from the service.
        Assert.True(refused.StatusCode is StatusCode.Unavailable or StatusCode.Internal, $"{refused.StatusCode}: {refused.Status.Detail}");
        Assert.Contains("did not complete the HTTP/2 handshake", refused.Status.DebugException?.ToString() ?? refused.Status.Detail);
        Assert.Equal(HttpStatusCode.Conflict, await coordinator.Admin.TryStartAsync(federation));
    }
}

public sealed class RequiredClientCertificateTests(RequiredClientCertificatesCoordinator coordinator) : IClassFixture<RequiredClientCertificatesCoordinator>
{
    static readonly TimeSpan Enroll = TimeSpan.FromSeconds(60), Round = TimeSpan.FromMinutes(2), Exit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_agent_with_a_certificate_from_the_agents_CA_enrolls_and_completes_a_round()
    {
        const string federation = "mtls-round";
        await coordinator.CreateFederationAsync(federation);
        var certificate = coordinator.AgentsCa.Issue("agent-round");
        using var agent = AgentProcess.Start(coordinator.Directory, coordinator.AgentArgs(federation, "state-round",
            "--client-cert", certificate.Certificate, "--client-key", certificate.Key));
        try
        {
            await coordinator.Admin.StartWhenEnrolledAsync(federation, Enroll);
            var done = await coordinator.Admin.WaitForStatusAsync(federation, "Completed", Round);
            Assert.Equal(1, done["completedRounds"]!.GetValue<int>());
            Assert.Equal(0, await agent.WaitForExitAsync(Exit));
            Assert.Contains(agent.Lines, l => l.Contains($"Round {federation}/1: update ACCEPTED", StringComparison.Ordinal));
        }
        catch
        {
            Console.WriteLine(agent.Output);
            Console.WriteLine(coordinator.Output);
            throw;
        }
    }

    [Fact]
    public async Task A_connection_without_a_client_certificate_is_refused_at_the_TLS_layer_and_enrolls_nothing()
    {
        const string federation = "mtls-none";
        await coordinator.CreateFederationAsync(federation);
        using var connection = MutualTls.Connect(coordinator, certificate: null);
        await MutualTls.AssertRefusedAtTlsAsync(coordinator, connection, federation);
    }

    [Fact]
    public async Task A_certificate_from_another_CA_is_refused_at_the_TLS_layer_and_enrolls_nothing()
    {
        const string federation = "mtls-foreign";
        await coordinator.CreateFederationAsync(federation);
        using var connection = MutualTls.Connect(coordinator, coordinator.ForeignCa.Issue("agent-foreign"));
        await MutualTls.AssertRefusedAtTlsAsync(coordinator, connection, federation);
    }

    [Fact]
    public async Task A_credential_presented_with_another_certificate_of_the_agents_CA_is_refused_as_Unauthenticated()
    {
        const string federation = "mtls-bound";
        await coordinator.CreateFederationAsync(federation);
        using var enrolled = MutualTls.Connect(coordinator, coordinator.AgentsCa.Issue("agent-bound"));
        using var other = MutualTls.Connect(coordinator, coordinator.AgentsCa.Issue("agent-other"));
        var registration = await MutualTls.RegisterAsync(enrolled, federation);

        Assert.Equal(StatusCode.Unauthenticated, await MutualTls.HeartbeatAsync(other, registration.ClientCredential));
        Assert.Equal(StatusCode.OK, await MutualTls.HeartbeatAsync(enrolled, registration.ClientCredential));
        // The other certificate is itself good: it enrolls a client of its own, bound to it.
        var second = await MutualTls.RegisterAsync(other, federation);
        Assert.Equal(StatusCode.OK, await MutualTls.HeartbeatAsync(other, second.ClientCredential));
        Assert.Equal(StatusCode.Unauthenticated, await MutualTls.HeartbeatAsync(enrolled, second.ClientCredential));
    }
}

public sealed class OptionalClientCertificateTests(OptionalClientCertificatesCoordinator coordinator) : IClassFixture<OptionalClientCertificatesCoordinator>
{
    [Fact]
    public async Task An_agent_without_a_certificate_enrolls_and_its_calls_are_accepted_with_or_without_one()
    {
        const string federation = "optional-none";
        await coordinator.CreateFederationAsync(federation);
        using var plain = MutualTls.Connect(coordinator, certificate: null);
        using var withCertificate = MutualTls.Connect(coordinator, coordinator.AgentsCa.Issue("optional-later"));
        var registration = await MutualTls.RegisterAsync(plain, federation);

        Assert.Equal(StatusCode.OK, await MutualTls.HeartbeatAsync(plain, registration.ClientCredential));
        Assert.Equal(StatusCode.OK, await MutualTls.HeartbeatAsync(withCertificate, registration.ClientCredential)); // not bound
    }

    [Fact]
    public async Task An_agent_that_enrolled_with_a_certificate_is_bound_to_it()
    {
        const string federation = "optional-bound";
        await coordinator.CreateFederationAsync(federation);
        using var enrolled = MutualTls.Connect(coordinator, coordinator.AgentsCa.Issue("optional-bound"));
        using var plain = MutualTls.Connect(coordinator, certificate: null);
        using var other = MutualTls.Connect(coordinator, coordinator.AgentsCa.Issue("optional-other"));
        var registration = await MutualTls.RegisterAsync(enrolled, federation);

        Assert.Equal(StatusCode.OK, await MutualTls.HeartbeatAsync(enrolled, registration.ClientCredential));
        Assert.Equal(StatusCode.Unauthenticated, await MutualTls.HeartbeatAsync(plain, registration.ClientCredential));
        Assert.Equal(StatusCode.Unauthenticated, await MutualTls.HeartbeatAsync(other, registration.ClientCredential));
    }

    [Fact]
    public async Task A_certificate_from_another_CA_is_refused_at_the_TLS_layer_even_though_none_is_required()
    {
        const string federation = "optional-foreign";
        await coordinator.CreateFederationAsync(federation);
        using var connection = MutualTls.Connect(coordinator, coordinator.ForeignCa.Issue("optional-foreign"));
        await MutualTls.AssertRefusedAtTlsAsync(coordinator, connection, federation);
    }
}

/// <summary>
/// <c>Coordinator:SecretsDirectory</c>: settings from files, one per key (how the chart passes enrollment tokens from a
/// mounted Secret), so no token is on the coordinator's command line or in its environment.
/// </summary>
public sealed class SecretFilesTests : IAsyncLifetime
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-secret-files-").FullName;
    public Task InitializeAsync() => Task.CompletedTask;
    public Task DisposeAsync() { Directory.Delete(_dir, recursive: true); return Task.CompletedTask; }

    [Fact]
    public async Task An_enrollment_token_from_a_file_in_the_secrets_directory_enrolls_an_agent()
    {
        string secrets = Directory.CreateDirectory(Path.Combine(_dir, "secrets")).FullName;
        const string token = "token-from-a-file-0123456789";
        File.WriteAllText(Path.Combine(secrets, "Coordinator__EnrollmentTokens__*__0"), token + "\n");
        var (args, http, grpc) = CoordinatorAdmin.ProcessArgs("--Coordinator:InMemoryState=true", $"--Coordinator:DataDirectory={Path.Combine(_dir, "coordinator")}");
        // Without the token the helper passes as an argument: only the file holds one.
        args = [.. args.Where(a => !a.StartsWith("--Coordinator:EnrollmentTokens", StringComparison.Ordinal)), $"--Coordinator:SecretsDirectory={secrets}"];
        using var process = CoordinatorProcess.Start(args);
        try
        {
            await process.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), TimeSpan.FromSeconds(90));
            using var admin = new CoordinatorAdmin(http);
            await admin.CreateFederationAsync("from-file", new { baseModel = "tiny-llama", targetModules = new[] { "q_proj" }, rankPolicy = new { cpuRank = 2, tiers = Array.Empty<object>() }, rounds = 1, clientsPerRound = 1, quorum = 1 });
            using var connection = new CoordinatorConnection(grpc, null);
            var request = new RegisterRequest { FederationId = "from-file", EnrollmentToken = token, Device = new DeviceInfo { Device = "cpu", AgentVersion = "test" } };
            var registered = await connection.Client.RegisterAsync(request, connection.Options(default, MutualTls.Call));
            Assert.StartsWith("c-", registered.ClientId);
            request.EnrollmentToken = "some-other-token-0123456789";
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await connection.Client.RegisterAsync(request, connection.Options(default, MutualTls.Call)));
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        }
        finally
        {
            await process.StopAsync(TimeSpan.FromSeconds(60));
        }
    }
}
