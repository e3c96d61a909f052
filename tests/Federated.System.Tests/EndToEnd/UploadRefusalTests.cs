using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// A coordinator that refuses an upload while the agent is still streaming it (here: chunks above its limit). The
/// refusal ends the call while the agent writes, so the agent's write fails first; it must report the coordinator's
/// status, not retry the broken stream as if the network had dropped it.
/// </summary>
public sealed class UploadRefusalTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Run = TimeSpan.FromMinutes(2);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-refusal-").FullName;
    EmbeddedCoordinator _coordinator = null!;

    public async Task InitializeAsync() => _coordinator = await EmbeddedCoordinator.StartAsync(_dir, "--Coordinator:MaxChunkBytes=1024");

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_refusal_mid_stream_is_reported_with_the_coordinators_status_and_not_retried_as_a_broken_stream()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 3000);
        const string federation = "refusal";
        await _coordinator.Admin.CreateFederationAsync(federation, new
        {
            // Every projection at rank 16: an update of ~150 KB, more than the HTTP/2 window, so the agent is still writing when refused.
            baseModel = "tiny-llama", targetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
            rankPolicy = new { cpuRank = 16, tiers = Array.Empty<object>() },
            training = new { localSteps = 2, batchSize = 4, learningRate = 0.01 }, rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "10m",
        });
        using var agent = AgentProcess.Start(_dir, _coordinator.AgentArgs(federation, model, data, "--Agent:UploadChunkBytes=4096"));
        await _coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);

        string failure = await agent.WaitForLineAsync("Round not completed", Run);
        Assert.Contains("ResourceExhausted: a 4,096-byte chunk exceeds the 1,024-byte limit", failure);
        Assert.DoesNotContain(agent.Lines, l => l.Contains("UploadUpdate failed", StringComparison.Ordinal));
    }
}
