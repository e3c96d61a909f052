using Federated.Agent.State;
using Federated.SystemTests.Processes;
using Federated.Core.Formats;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Tokenization;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// The whole system as deployed: a coordinator in cluster mode on a real redis-server, and three fed-agent processes
/// on different data at different ranks, through two FLoRA rounds. The final global adapters, merged into the base,
/// must lower the held-out loss. The CPU participant holds its base in bf16 (as a GPU's auto precision would): its
/// float32 updates combine with the others' unchanged. The rank-8 participant uploads int8-compressed updates, which the
/// coordinator accepts and aggregates with the others' float32 ones.
/// </summary>
public sealed class ClusterFederationTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Federation = TimeSpan.FromMinutes(6);
    readonly RedisServer _redis = new();
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-e2e-").FullName;

    public Task InitializeAsync() => _redis.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Three_agents_at_different_ranks_complete_two_rounds_and_the_global_adapter_lowers_held_out_loss()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string heldOut = TestFiles.TextSlice(Path.Combine(_dir, "held-out.txt"), "LGPL-3", 0, 4000);
        var (args, http, grpc) = CoordinatorAdmin.ProcessArgs(
            "--Coordinator:Mode=Cluster", $"--Coordinator:Redis={_redis.Configuration}", "--Coordinator:AdvertisedAddress=127.0.0.1",
            $"--Coordinator:ClusterId=agents-{Guid.NewGuid():N}");
        using var coordinator = CoordinatorProcess.Start(args);
        await coordinator.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), Startup);
        using var admin = new CoordinatorAdmin(http);
        const string federation = "e2e";
        await admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama",
            targetModules = new[] { "q_proj", "v_proj" },
            // Ranks from reported GPU memory: 2 on CPU, 4 from 8 GiB, 8 from 16 GiB.
            rankPolicy = new { cpuRank = 2, tiers = new[] { new { minGpuMemoryBytes = 8L << 30, rank = 4 }, new { minGpuMemoryBytes = 16L << 30, rank = 8 } } },
            training = new { localSteps = 12, batchSize = 8, learningRate = 0.01 },
            rounds = 2, clientsPerRound = 3, quorum = 3, roundDeadline = "10m",
        });

        (string Source, long Memory)[] participants = [("GPL-3", 0), ("Apache-2.0", 8L << 30), ("GPL-2", 16L << 30)];
        var agents = participants.Select((p, i) =>
        {
            string data = TestFiles.TextSlice(Path.Combine(_dir, $"data-{i}.txt"), p.Source, 0, 6000);
            return AgentProcess.Start(_dir,
            [
                "--coordinator", grpc.ToString(), "--federation", federation, "--token", CoordinatorAdmin.EnrollmentToken,
                "--state", Path.Combine(_dir, $"state-{i}"), "--model", model, "--data", data, "--eval-data", heldOut,
                "--max-seq-len", "64", "--seed", i.ToString(), $"--Agent:GpuMemoryBytes={p.Memory}",
                "--Agent:PollInterval=00:00:01", "--Agent:HeartbeatInterval=00:00:05", "--precision", i == 0 ? "bf16" : "auto", "--threads", i == 0 ? "1" : "0",
                "--upload-compression", i == 2 ? "int8" : "none",
            ]);
        }).ToList();
        try
        {
            await admin.StartWhenEnrolledAsync(federation, Startup);
            var done = await admin.WaitForStatusAsync(federation, "Completed", Federation);
            Assert.Equal(2, done["completedRounds"]!.GetValue<int>());
            foreach (var agent in agents)
                Assert.True(await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, agent.Output);

            // Each agent trained at the rank its reported hardware earned, and every update counted in both rounds.
            var ranks = new List<int>();
            for (int i = 0; i < agents.Count; i++)
            {
                var identity = new AgentStateStore(Path.Combine(_dir, $"state-{i}")).LoadIdentity()!;
                ranks.Add((await admin.GetAsync($"/api/clients/{identity.ClientId}"))["assignedRank"]!.GetValue<int>());
                Assert.Contains(agents[i].Lines, l => l.Contains($"Round {federation}/2: update ACCEPTED", StringComparison.Ordinal));
            }
            Assert.Equal([2, 4, 8], ranks);
            Assert.Contains(agents[0].Lines, l => l.Contains("; cpu, bf16, 1 CPU threads; model", StringComparison.Ordinal));
            Assert.Contains(agents[1].Lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, "; cpu, fp32, [1-9][0-9]* CPU threads; model"));
            // Rank 8 on 64-wide projections: int8 payloads are 0.3125 of float32 (see CompressedUpdateTests).
            Assert.Equal(2, agents[2].Lines.Count(l => l.Contains(": trained;", StringComparison.Ordinal) && l.Contains("int8: 0.3", StringComparison.Ordinal)));
            Assert.DoesNotContain(agents[1].Lines, l => l.Contains("of float32", StringComparison.Ordinal));
            for (int round = 1; round <= 2; round++)
            {
                var view = await admin.GetAsync($"/api/federations/{federation}/rounds/{round}");
                var outcomes = view["outcomes"]!.AsArray();
                Assert.Equal(3, outcomes.Count(o => o!["accepted"]!.GetValue<bool>()));
            }

            await AssertClientMetricsAsync(admin, http, federation, agents.Count);

            // FLoRA: each round's global adapter is merged into the base, in order.
            var (before, after) = HeldOutLoss(model, heldOut, [await admin.GlobalAdapterAsync(federation, 1), await admin.GlobalAdapterAsync(federation, 2)]);
            Assert.True(after < before - 0.05, $"held-out loss {before:F4} (base) -> {after:F4} (base + global adapters)");
            Assert.Equal(0, await coordinator.StopAsync(TimeSpan.FromSeconds(60)));
            // The compressing agent reports what compression saved with its losses.
            Assert.Contains("\"upload_compression_ratio\":0.3125", coordinator.Output); // a structured property of the report
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
        }
    }

    /// <summary>
    /// What the agents reported about round 2 is kept per client and aggregated, weighted by counted examples, in the admin
    /// API, in <c>fed round show</c> and on /metrics.
    /// </summary>
    async Task AssertClientMetricsAsync(CoordinatorAdmin admin, Uri http, string federation, int agents)
    {
        var view = await admin.GetAsync($"/api/federations/{federation}/rounds/2");
        var reported = Enumerable.Range(0, agents).Select(i =>
        {
            var store = new AgentStateStore(Path.Combine(_dir, $"state-{i}"));
            var progress = store.LoadProgress()!;
            Assert.Equal(2, progress.Round);
            return (Client: store.LoadIdentity()!.ClientId, Metrics: progress.Metrics!);
        }).ToList();
        var kept = view["clientMetrics"]!.AsArray();
        Assert.Equal(agents, kept.Count);
        var counted = view["outcomes"]!.AsArray().ToDictionary(o => o!["clientId"]!.GetValue<string>(), o => o!["countedExamples"]!.GetValue<long>());
        foreach (var (client, metrics) in reported)
        {
            var mine = kept.Single(c => c!["clientId"]!.GetValue<string>() == client)!["metrics"]!;
            Assert.Equal(metrics["eval_loss"], mine["eval_loss"]!.GetValue<double>());
            Assert.Equal(metrics["train_loss"], mine["train_loss"]!.GetValue<double>());
        }
        double expected = reported.Sum(r => counted[r.Client] * r.Metrics["eval_loss"]) / reported.Sum(r => (double)counted[r.Client]);
        var evalLoss = view["metrics"]!.AsArray().Single(m => m!["name"]!.GetValue<string>() == "eval_loss")!;
        Assert.Equal(expected, evalLoss["value"]!.GetValue<double>(), 9);
        Assert.Equal(agents, evalLoss["clients"]!.GetValue<int>());

        var output = new StringWriter();
        Assert.Equal(0, Federated.Cli.FedCommandLine.Run(["round", "show", federation, "2", "--coordinator", http.ToString(), "--api-key", TestOperators.AdminKey], output, new StringWriter()));
        string shown = expected.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Matches($@"(?m)^eval_loss\s+{System.Text.RegularExpressions.Regex.Escape(shown)}\s+{agents}$", output.ToString());

        using var scrape = TestOperators.Client(http, TestOperators.AdminKey, TimeSpan.FromSeconds(30));
        string prometheus = await scrape.GetStringAsync("/metrics");
        var gauge = System.Text.RegularExpressions.Regex.Match(prometheus,
            $@"(?m)^federated_round_client_metric\{{(?=[^}}]*federation=""{federation}"")(?=[^}}]*name=""eval_loss"")(?=[^}}]*round=""2"")[^}}]*\}} (\S+)");
        Assert.True(gauge.Success, prometheus);
        Assert.Equal(expected, double.Parse(gauge.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 9);
    }

    static (double Before, double After) HeldOutLoss(string modelDirectory, string heldOut, IEnumerable<byte[]> globals)
    {
        using var model = HfCheckpoint.Load(modelDirectory);
        var tokenizer = TokenizerLoader.Load(modelDirectory);
        var examples = DatasetFiles.Load(heldOut, tokenizer, 64);
        double Loss() => Evaluator.Evaluate(model, TrainingBatcher.Batches(examples, 8, tokenizer.PadId ?? 0, seed: null)).MeanLoss;
        double before = Loss();
        foreach (var payload in globals)
        {
            using var adapter = AdapterPayload.Read(payload);
            LoraInjection.Merge(model, adapter);
        }
        return (before, Loss());
    }
}
