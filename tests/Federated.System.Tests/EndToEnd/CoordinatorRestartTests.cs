using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// The coordinator process dies mid-round (SIGKILL) and a new one starts on the same redis-server: the round's
/// accepted updates, the agents' credentials and their half-finished uploads are all in Redis, so the agents, which
/// retry on their own, finish the round against the new process.
/// </summary>
public sealed class CoordinatorRestartTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Federation = TimeSpan.FromMinutes(5);
    readonly RedisServer _redis = new();
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-restart-").FullName;

    public Task InitializeAsync() => _redis.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_coordinator_killed_mid_round_and_restarted_on_the_same_redis_lets_the_agents_finish_the_round()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        var (args, http, grpc) = CoordinatorAdmin.ProcessArgs(
            "--Coordinator:Mode=Cluster", $"--Coordinator:Redis={_redis.Configuration}", "--Coordinator:AdvertisedAddress=127.0.0.1",
            $"--Coordinator:ClusterId=restart-{Guid.NewGuid():N}");
        var coordinator = CoordinatorProcess.Start(args);
        await coordinator.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), Startup);
        using var admin = new CoordinatorAdmin(http);
        const string federation = "restart";
        await admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama",
            targetModules = new[] { "q_proj", "v_proj" },
            rankPolicy = new { cpuRank = 4, tiers = Array.Empty<object>() },
            training = new { localSteps = 6, batchSize = 8, learningRate = 0.01 },
            rounds = 1, clientsPerRound = 3, quorum = 3, roundDeadline = "10m",
        });

        // The third agent uploads slowly, so the kill lands while the round waits for it.
        string[] slow = ["--Agent:UploadChunkBytes=1024", "--Agent:UploadBytesPerSecond=4096"];
        var agents = Enumerable.Range(0, 3).Select(i => AgentProcess.Start(_dir,
        [
            "--coordinator", grpc.ToString(), "--federation", federation, "--token", CoordinatorAdmin.EnrollmentToken,
            "--state", Path.Combine(_dir, $"state-{i}"), "--model", model,
            "--data", TestFiles.TextSlice(Path.Combine(_dir, $"data-{i}.txt"), "GPL-3", i * 6000, 6000),
            "--max-seq-len", "64", "--seed", i.ToString(), "--Agent:PollInterval=00:00:01", "--Agent:HeartbeatInterval=00:00:05",
            .. i == 2 ? slow : [],
        ])).ToList();
        try
        {
            await admin.StartWhenEnrolledAsync(federation, Startup);
            var before = await WaitForRoundAsync(admin, federation, r => r["submitted"]!.GetValue<int>() >= 1, Federation);
            Assert.Equal("Open", before["status"]!.GetValue<string>());
            int acceptedBeforeKill = before["submitted"]!.GetValue<int>();

            coordinator.Dispose(); // SIGKILL: no graceful shutdown, nothing flushed on the way out
            coordinator = CoordinatorProcess.Start(args);
            await coordinator.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), Startup);

            var done = await admin.WaitForStatusAsync(federation, "Completed", Federation);
            Assert.Equal(1, done["completedRounds"]!.GetValue<int>());
            var round = await admin.GetAsync($"/api/federations/{federation}/rounds/1");
            Assert.Equal(3, round["outcomes"]!.AsArray().Count(o => o!["accepted"]!.GetValue<bool>()));
            Assert.True(acceptedBeforeKill < 3, "the kill should land mid-round");
            foreach (var agent in agents)
                Assert.True(await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, agent.Output);
        }
        catch
        {
            foreach (var agent in agents) Console.WriteLine(agent.Output);
            Console.WriteLine(coordinator.Output + coordinator.Error);
            throw;
        }
        finally
        {
            foreach (var agent in agents) agent.Dispose();
            coordinator.Dispose();
        }
    }

    static async Task<System.Text.Json.Nodes.JsonNode> WaitForRoundAsync(CoordinatorAdmin admin, string federation, Func<System.Text.Json.Nodes.JsonNode, bool> until, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var round = await admin.GetAsync($"/api/federations/{federation}/rounds/1");
                if (until(round)) return round;
            }
            catch (HttpRequestException) { } // not opened yet
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"round 1 of {federation} never got there");
            await Task.Delay(100);
        }
    }
}
