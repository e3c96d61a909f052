using System.Text.Json.Nodes;
using Federated.Agent.State;
using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// deploy/compose.yaml without Docker (deploy/local-cluster.sh starts the same by hand): a real redis-server, two
/// coordinator processes in cluster mode that form one Orleans cluster through it (own HTTP, gRPC, silo and gateway
/// ports, advertised on 127.0.0.1), and three fed-agent processes at different ranks, split across the silos.
/// </summary>
public sealed class MultiSiloClusterTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), RoundTime = TimeSpan.FromMinutes(2), Exit = TimeSpan.FromSeconds(60);
    const string Federation = "multi-silo";
    static readonly string Accepted = $"Round {Federation}/1: update ACCEPTED";
    /// <summary>Each agent's data (a different license text) and the GPU memory it reports: ranks 2, 4 and 8.</summary>
    static readonly (string Source, long Memory)[] Participants = [("GPL-3", 0), ("Apache-2.0", 8L << 30), ("GPL-2", 16L << 30)];

    readonly RedisServer _redis = new();
    readonly string _dir = Directory.CreateTempSubdirectory("fed-multi-silo-").FullName;
    /// <summary>Every process and client this test started, disposed (processes killed) however the test ends.</summary>
    readonly List<IDisposable> _owned = [];
    string _model = "";

    sealed record Silo(CoordinatorProcess Process, Uri Grpc, CoordinatorAdmin Admin);

    public async Task InitializeAsync()
    {
        await _redis.InitializeAsync();
        _model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        for (int i = 0; i < Participants.Length; i++)
            TestFiles.TextSlice(DataPath(i), Participants[i].Source, 0, 6000);
    }

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            try { owned.Dispose(); }
            catch (InvalidOperationException) { /* already gone */ }
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Agents_connected_to_different_silos_complete_a_round_that_both_silos_serve()
    {
        var silos = await StartClusterAsync();
        await CreateFederationAsync(silos[0].Admin);
        await AssertBothSilosServeTheSameFederationAsync(silos, "Created");

        // As in compose.yaml: agents 1 and 2 on the first silo, agent 3 on the second (each lists the other as its fallback).
        var agents = new[] { StartAgent(0, silos[0], silos[1]), StartAgent(1, silos[0], silos[1]), StartAgent(2, silos[1], silos[0]) };
        try
        {
            await silos[1].Admin.StartWhenEnrolledAsync(Federation, Startup);
            await silos[0].Admin.WaitForStatusAsync(Federation, "Completed", RoundTime);
            foreach (var agent in agents)
            {
                Assert.Equal(0, await agent.WaitForExitAsync(Exit));
                Assert.Contains(agent.Lines, l => l.Contains(Accepted, StringComparison.Ordinal));
            }

            await AssertBothSilosServeTheSameFederationAsync(silos, "Completed");
            var rounds = await Task.WhenAll(silos.Select(s => s.Admin.GetAsync($"/api/federations/{Federation}/rounds/1")));
            Assert.Equal(rounds[0].ToJsonString(), rounds[1].ToJsonString());
            Assert.Equal(ClientIds(), AcceptedClients(rounds[0]));
            int[] ranks = await AssignedRanksAsync(silos[1].Admin);
            Assert.Equal([2, 4, 8], ranks);
        }
        catch
        {
            Dump(silos, agents);
            throw;
        }
    }

    [Fact]
    public async Task Killing_a_silo_mid_round_loses_no_accepted_update_and_its_agents_finish_the_round_through_the_other_silo()
    {
        var silos = await StartClusterAsync();
        var (doomed, survivor) = (silos[0], silos[1]);
        await CreateFederationAsync(doomed.Admin);

        // Pacing: agent 1 uploads at full speed; agents 2 and 3 at 1 KiB/s in 1 KiB chunks (their rank-4 and rank-8
        // updates take about 7 and 14 s), so the first update is accepted while the round still waits for the others.
        string[] slow = ["--Agent:UploadBytesPerSecond=1024", "--Agent:UploadChunkBytes=1024"];
        var agents = new[] { StartAgent(0, doomed, survivor), StartAgent(1, doomed, survivor, slow), StartAgent(2, survivor, doomed, slow) };
        try
        {
            await survivor.Admin.StartWhenEnrolledAsync(Federation, Startup);
            await agents[0].WaitForLineAsync(Accepted, RoundTime);

            // The moment of the kill: what the agents were told was accepted, and the round as the other silo sees it.
            var acceptedAtKill = Enumerable.Range(0, agents.Length)
                .Where(i => agents[i].Lines.Any(l => l.Contains(Accepted, StringComparison.Ordinal))).Select(ClientId).ToHashSet();
            var atKill = await survivor.Admin.GetAsync($"/api/federations/{Federation}/rounds/1");
            doomed.Process.Kill();
            Assert.Equal("Open", atKill["status"]!.GetValue<string>());
            int submittedAtKill = atKill["submitted"]!.GetValue<int>();
            Assert.InRange(submittedAtKill, Math.Max(1, acceptedAtKill.Count), 2);

            // The dead silo's agents move to the surviving silo by themselves, under the same enrollment. Orleans declares
            // the dead silo dead and reactivates its grains (the round's among them, perhaps) on the survivor; until then calls may fail.
            var round = await PollAsync(survivor.Admin, $"/api/federations/{Federation}/rounds/1", r => r["status"]!.GetValue<string>() == "Closed", RoundTime);
            Assert.Equal(3, round["submitted"]!.GetValue<int>());
            var accepted = AcceptedClients(round);
            Assert.Equal(ClientIds(), accepted);
            Assert.Subset(accepted.ToHashSet(), acceptedAtKill);
            await PollAsync(survivor.Admin, $"/api/federations/{Federation}", f => f["status"]!.GetValue<string>() == "Completed", RoundTime);

            foreach (var agent in agents)
            {
                Assert.Equal(0, await agent.WaitForExitAsync(Exit));
                Assert.Single(agent.Lines, l => l.Contains("training rank", StringComparison.Ordinal));
                Assert.Single(agent.Lines, l => l.Contains(Accepted, StringComparison.Ordinal));
            }
            foreach (var agent in agents[..2])
                Assert.Contains(agent.Lines, l => l.Contains($"at {survivor.Grpc} in ", StringComparison.Ordinal));
            Assert.DoesNotContain(agents[2].Lines, l => l.Contains($"at {doomed.Grpc} in ", StringComparison.Ordinal));
            Assert.Equal(0, await survivor.Process.StopAsync(Exit));
        }
        catch
        {
            Dump(silos, agents);
            throw;
        }
    }

    /// <summary>Two coordinator processes with the same ClusterId/ServiceId on one Redis: one Orleans cluster.</summary>
    async Task<Silo[]> StartClusterAsync()
    {
        string clusterId = $"multi-silo-{Guid.NewGuid():N}";
        var silos = new Silo[2];
        for (int i = 0; i < silos.Length; i++)
        {
            var (args, http, grpc) = CoordinatorAdmin.ProcessArgs(
                "--Coordinator:Mode=Cluster", $"--Coordinator:Redis={_redis.Configuration}", "--Coordinator:AdvertisedAddress=127.0.0.1",
                $"--Coordinator:ClusterId={clusterId}", "--Coordinator:ServiceId=federated",
                // A silo that stops answering is declared dead after a few missed 1 s probes (Orleans' default: 5 s each).
                "--Orleans:ClusterMembership:ProbeTimeout=00:00:01");
            var process = CoordinatorProcess.Start(args);
            _owned.Add(process);
            var admin = new CoordinatorAdmin(http);
            _owned.Add(admin);
            silos[i] = new Silo(process, grpc, admin);
            // One at a time: the second joins the cluster the first formed.
            await process.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), Startup);
        }
        return silos;
    }

    static Task CreateFederationAsync(CoordinatorAdmin admin) => admin.CreateFederationAsync(Federation, new
    {
        baseModel = "tiny-llama",
        targetModules = new[] { "q_proj", "v_proj" },
        // Ranks from reported GPU memory: 2 on CPU, 4 from 8 GiB, 8 from 16 GiB.
        rankPolicy = new { cpuRank = 2, tiers = new[] { new { minGpuMemoryBytes = 8L << 30, rank = 4 }, new { minGpuMemoryBytes = 16L << 30, rank = 8 } } },
        training = new { localSteps = 4, batchSize = 8, learningRate = 0.01 },
        rounds = 1, clientsPerRound = 3, quorum = 3, roundDeadline = "10m",
    });

    static async Task AssertBothSilosServeTheSameFederationAsync(Silo[] silos, string status)
    {
        var views = await Task.WhenAll(silos.Select(s => s.Admin.GetAsync($"/api/federations/{Federation}")));
        foreach (var view in views) Assert.Equal(status, view["status"]!.GetValue<string>());
        Assert.Equal(views[0].ToJsonString(), views[1].ToJsonString());
        foreach (var silo in silos)
            Assert.Contains((await silo.Admin.GetAsync("/api/federations")).AsArray(), f => f!["id"]!.GetValue<string>() == Federation);
    }

    /// <summary>An agent that uses <paramref name="silo"/> and moves to <paramref name="fallback"/> if it cannot reach it.</summary>
    AgentProcess StartAgent(int i, Silo silo, Silo fallback, params string[] extra)
    {
        var agent = AgentProcess.Start(_dir,
        [
            "--coordinator", $"{silo.Grpc},{fallback.Grpc}", "--federation", Federation, "--token", CoordinatorAdmin.EnrollmentToken,
            "--state", StatePath(i), "--model", _model, "--data", DataPath(i), "--max-seq-len", "64", "--seed", i.ToString(),
            $"--Agent:GpuMemoryBytes={Participants[i].Memory}", "--Agent:PollInterval=00:00:01", "--Agent:HeartbeatInterval=00:00:05",
            "--Agent:MaxRetryDelay=00:00:02", .. extra,
        ]);
        _owned.Add(agent);
        return agent;
    }

    string DataPath(int i) => Path.Combine(_dir, $"data-{i}.txt");
    string StatePath(int i) => Path.Combine(_dir, $"state-{i}");
    string ClientId(int i) => new AgentStateStore(StatePath(i)).LoadIdentity()!.ClientId;
    string[] ClientIds() => [.. Enumerable.Range(0, Participants.Length).Select(ClientId).Order(StringComparer.Ordinal)];

    static string[] AcceptedClients(JsonNode round) =>
    [
        .. round["outcomes"]!.AsArray().Where(o => o!["accepted"]!.GetValue<bool>()).Select(o => o!["clientId"]!.GetValue<string>()).Order(StringComparer.Ordinal),
    ];

    async Task<int[]> AssignedRanksAsync(CoordinatorAdmin admin)
    {
        var ranks = new int[Participants.Length];
        for (int i = 0; i < ranks.Length; i++)
            ranks[i] = (await admin.GetAsync($"/api/clients/{ClientId(i)}"))["assignedRank"]!.GetValue<int>();
        return ranks;
    }

    /// <summary>Polls until <paramref name="until"/> holds; failed calls (a grain still placed on a dead silo) are retried.</summary>
    static async Task<JsonNode> PollAsync(CoordinatorAdmin admin, string path, Func<JsonNode, bool> until, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "";
        while (true)
        {
            try
            {
                var node = await admin.GetAsync(path);
                if (until(node)) return node;
                last = node.ToJsonString();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }
            if (DateTime.UtcNow > deadline) Assert.Fail($"{path}: condition not met after {timeout}; last: {last}");
            await Task.Delay(500);
        }
    }

    static void Dump(Silo[] silos, AgentProcess[] agents)
    {
        for (int i = 0; i < agents.Length; i++) Console.WriteLine($"--- agent {i + 1}\n{agents[i].Output}");
        // Without the per-request lines, which drown everything else.
        for (int i = 0; i < silos.Length; i++)
            Console.WriteLine($"--- silo {i + 1}\n{string.Join('\n', silos[i].Process.Output.Split('\n').Where(l => !l.Contains("RequestLoggingMiddleware", StringComparison.Ordinal)))}{silos[i].Process.Error}");
    }
}
