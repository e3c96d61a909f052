using System.Text.RegularExpressions;
using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// A client an operator revoked stops, and does not enroll again by itself, even though its enrollment token (here a
/// reusable bootstrap token) would still let it: re-enrolling is the participant's decision, and the operator's to allow.
/// </summary>
public sealed partial class RevocationTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-revocation-").FullName;
    EmbeddedCoordinator _coordinator = null!;

    public async Task InitializeAsync() => _coordinator = await EmbeddedCoordinator.StartAsync(_dir);

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [GeneratedRegex(@"as (c-[0-9a-f]{16}) on")]
    private static partial Regex EnrolledAs();

    [Fact]
    public async Task A_revoked_agent_stops_and_does_not_enroll_again_with_its_reusable_token()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 2000);
        const string federation = "revocation";
        await _coordinator.Admin.CreateFederationAsync(federation, new { baseModel = "tiny-llama", rounds = 1, clientsPerRound = 1, quorum = 1 });
        using var agent = AgentProcess.Start(_dir, _coordinator.AgentArgs(federation, model, data));
        string client = EnrolledAs().Match(await agent.WaitForLineAsync("Enrolled in federation", Startup)).Groups[1].Value;

        await _coordinator.Admin.RevokeClientAsync(client);

        Assert.Equal(1, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains(agent.Lines, l => l.Contains("fed-agent stopped", StringComparison.Ordinal) && l.Contains("revoked this client", StringComparison.Ordinal));
        Assert.Single(agent.Lines, l => l.Contains("Enrolled in federation", StringComparison.Ordinal));
        Assert.False(Federated.Agent.State.AgentStateStore.HasIdentity(Path.Combine(_dir, "state")), "the revoked identity is forgotten");
    }
}
