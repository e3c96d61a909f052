using Federated.Agent.Remote;
using Federated.Agent.State;
using Federated.SystemTests.Processes;
using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// A real fed-agent against a coordinator whose credentials live 30 s: it rotates its credential on its own once less than a
/// third of the lifetime is left, saves it, and keeps working with it (no second enrollment); the replaced credential is dead.
/// </summary>
public sealed class CredentialRotationTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Lifetime = TimeSpan.FromSeconds(30);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-rotation-").FullName;
    EmbeddedCoordinator _coordinator = null!;

    public async Task InitializeAsync() =>
        _coordinator = await EmbeddedCoordinator.StartAsync(_dir, $"--Coordinator:Agents:CredentialLifetime={Lifetime}");

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task An_agent_rotates_its_credential_before_it_expires_and_keeps_working_with_the_new_one()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 2000);
        const string federation = "rotation";
        await _coordinator.Admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama", rounds = 1, clientsPerRound = 1, quorum = 1, training = new { localSteps = 2, batchSize = 4, learningRate = 0.01 },
        });
        var state = new AgentStateStore(Path.Combine(_dir, "state"));
        using var agent = AgentProcess.Start(_dir, _coordinator.AgentArgs(federation, model, data));
        await agent.WaitForLineAsync("Enrolled in federation", Startup);
        var enrolled = state.LoadIdentity()!;
        Assert.NotNull(enrolled.CredentialExpiresAt);
        Assert.InRange(enrolled.CredentialExpiresAt!.Value - enrolled.CredentialIssuedAt!.Value, Lifetime - TimeSpan.FromSeconds(2), Lifetime + TimeSpan.FromSeconds(2));

        // The federation waits to be started, so the agent only polls GetTask until two thirds of the lifetime are gone.
        await agent.WaitForLineAsync("Rotated the credential", Lifetime);
        var rotated = state.LoadIdentity()!;
        Assert.Equal(enrolled.ClientId, rotated.ClientId);
        Assert.NotEqual(enrolled.Credential, rotated.Credential);
        Assert.True(rotated.CredentialExpiresAt > enrolled.CredentialExpiresAt);
        Assert.True(DateTimeOffset.UtcNow < enrolled.CredentialExpiresAt, "rotated before the old credential expired");

        await _coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);
        Assert.True(await agent.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, agent.Output);

        Assert.Single(agent.Lines, l => l.Contains("Enrolled in federation", StringComparison.Ordinal));
        Assert.DoesNotContain(agent.Lines, l => l.Contains("expired", StringComparison.OrdinalIgnoreCase) || l.Contains("refused the stored credential", StringComparison.Ordinal));
        Assert.Contains(agent.Lines, l => l.Contains("update ACCEPTED", StringComparison.Ordinal));
        using var connection = new CoordinatorConnection(_coordinator.Grpc, null);
        connection.UseCredential(enrolled.Credential);
        var refused = await Assert.ThrowsAsync<RpcException>(() => connection.Client.HeartbeatAsync(new HeartbeatRequest(), connection.Options(default)).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
    }
}

/// <summary>
/// An agent that was off longer than its credential's lifetime finds it expired: it forgets the identity and enrolls again when it
/// has an enrollment token, and otherwise stops with one line saying so.
/// </summary>
public sealed class CredentialExpiryTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Lifetime = TimeSpan.FromSeconds(4);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-expiry-").FullName;
    EmbeddedCoordinator _coordinator = null!;

    public async Task InitializeAsync() =>
        _coordinator = await EmbeddedCoordinator.StartAsync(_dir, $"--Coordinator:Agents:CredentialLifetime={Lifetime}", "--Coordinator:Agents:RotationGrace=00:00:01");

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Runs an agent until it enrolls, then kills it and lets that credential expire.</summary>
    async Task<ClientIdentity> RunThenExpireAsync(string[] args)
    {
        var state = new AgentStateStore(Path.Combine(_dir, "state"));
        using (var agent = AgentProcess.Start(_dir, args))
        {
            await agent.WaitForLineAsync("Enrolled in federation", Startup);
            agent.Kill();
        }
        var identity = state.LoadIdentity()!;
        await Task.Delay(identity.CredentialExpiresAt!.Value - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1));
        return identity;
    }

    [Fact]
    public async Task An_expired_credential_is_forgotten_and_replaced_by_enrolling_again_or_stops_the_agent_without_a_token()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 2000);
        const string federation = "expiry";
        await _coordinator.Admin.CreateFederationAsync(federation, new { baseModel = "tiny-llama", rounds = 1, clientsPerRound = 1, quorum = 1 });
        string[] args = _coordinator.AgentArgs(federation, model, data);
        var first = await RunThenExpireAsync(args);

        using (var again = AgentProcess.Start(_dir, args))
        {
            await again.WaitForLineAsync("Enrolled in federation", Startup);
            Assert.Contains(again.Lines, l => l.Contains("credential expired before it was rotated", StringComparison.Ordinal) && l.Contains("enrolling again", StringComparison.Ordinal));
            again.Kill();
        }
        var second = new AgentStateStore(Path.Combine(_dir, "state")).LoadIdentity()!;
        Assert.NotEqual(first.ClientId, second.ClientId);
        await Task.Delay(second.CredentialExpiresAt!.Value - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1));

        string[] withoutToken = [.. args.Where((a, i) => a != "--token" && (i == 0 || args[i - 1] != "--token"))];
        using var stopped = AgentProcess.Start(_dir, withoutToken);
        Assert.Equal(1, await stopped.WaitForExitAsync(Startup));
        Assert.Single(stopped.Lines, l => l.Contains("fed-agent stopped", StringComparison.Ordinal)
            && l.Contains("credential expired before it was rotated", StringComparison.Ordinal) && l.Contains("no Agent:EnrollmentToken", StringComparison.Ordinal));
        Assert.DoesNotContain(stopped.Lines, l => l.Contains("Enrolled in federation", StringComparison.Ordinal));
        Assert.False(AgentStateStore.HasIdentity(Path.Combine(_dir, "state")), "the expired identity is forgotten");
    }
}
