using Federated.SystemTests.Processes;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using Xunit.Abstractions;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// What a federation produces, end to end with separate processes: a coordinator and three fed-agent processes on different
/// data run three rounds of a strategy as its paper defines it (the agents continue what the coordinator hands them), and
/// the model users download (base + merged history + live adapter, as one adapter) lowers held-out loss against the base
/// and against the last round's delta alone.
/// </summary>
public sealed class FederatedModelTests(ITestOutputHelper output) : IDisposable
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Federation = TimeSpan.FromMinutes(6);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-model-e2e-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("flexlora", 2, 4, 8)]
    [InlineData("fedit", 4, 4, 4)]
    [InlineData("flora", 2, 4, 8)]
    public async Task Three_agents_run_three_rounds_and_the_downloaded_model_lowers_held_out_loss(string strategy, int cpuRank, int rank8, int rank16)
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string heldOut = TestFiles.TextSlice(Path.Combine(_dir, "held-out.txt"), "LGPL-3", 0, 4000);
        await using var coordinator = await EmbeddedCoordinator.StartAsync(_dir);
        string federation = "e2e-" + strategy;
        await coordinator.Admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama",
            targetModules = new[] { "q_proj", "v_proj" },
            rankPolicy = new { cpuRank, tiers = new[] { new { minGpuMemoryBytes = 8L << 30, rank = rank8 }, new { minGpuMemoryBytes = 16L << 30, rank = rank16 } } },
            aggregation = new { strategy },
            // The tiny preset's shape (fed federation create --base-model-dir reads it from config.json).
            architecture = CoordinatorAdmin.TinyArchitecture,
            training = new { localSteps = 10, batchSize = 8, learningRate = 0.01 },
            rounds = 3, clientsPerRound = 3, quorum = 3, roundDeadline = "10m",
        });

        (string Source, long Memory)[] participants = [("GPL-3", 0), ("Apache-2.0", 8L << 30), ("GPL-2", 16L << 30)];
        var agents = participants.Select((p, i) => AgentProcess.Start(_dir,
        [
            "--coordinator", coordinator.Grpc.ToString(), "--federation", federation, "--token", CoordinatorAdmin.EnrollmentToken,
            "--state", Path.Combine(_dir, $"state-{i}"), "--model", model, "--data", TestFiles.TextSlice(Path.Combine(_dir, $"data-{i}.txt"), p.Source, 0, 6000),
            "--max-seq-len", "64", "--seed", i.ToString(), $"--Agent:GpuMemoryBytes={p.Memory}", "--Agent:PollInterval=00:00:01",
        ])).ToList();
        try
        {
            await coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);
            var done = await coordinator.Admin.WaitForStatusAsync(federation, "Completed", Federation);
            Assert.Equal(3, done["completedRounds"]!.GetValue<int>());
            foreach (var agent in agents)
            {
                Assert.True(await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, agent.Output);
                Assert.Contains(agent.Lines, l => l.Contains("Federation finished", StringComparison.Ordinal) && l.Contains("its model (base + every round, exact)", StringComparison.Ordinal));
                // Flora merges two rounds' deltas before round 3; the others merge nothing (their live adapter is continued, not merged).
                var third = agent.Lines.Single(l => l.Contains($"Round {federation}/3: {strategy}, training", StringComparison.Ordinal));
                Assert.Contains(strategy == "flora" ? "2 history delta(s) merged, fresh branches" : "0 history delta(s) merged, continuing", third);
            }

            var whole = await coordinator.Admin.ModelAsync(federation);
            var lastRound = await coordinator.Admin.GlobalAdapterAsync(federation, 3);
            var (baseLoss, modelLoss) = HeldOutLoss(model, heldOut, whole);
            var (_, lastRoundLoss) = HeldOutLoss(model, heldOut, lastRound);
            output.WriteLine($"{strategy}: held-out loss base {baseLoss:F4}, last round's delta alone {lastRoundLoss:F4}, downloaded model {modelLoss:F4}");
            Assert.True(modelLoss < baseLoss - 0.05, $"held-out loss {baseLoss:F4} (base) -> {modelLoss:F4} (base + downloaded model)");
            if (strategy == "flora")
                // The history: each round's stack is one delta of several, and the last alone misses the earlier rounds.
                Assert.True(modelLoss < lastRoundLoss - 0.02, $"held-out loss {lastRoundLoss:F4} (last round's delta alone) vs {modelLoss:F4} (the model)");
            else
                // A live adapter: the last round's aggregate is the whole model, and the download says so exactly.
                Assert.Equal(lastRoundLoss, modelLoss, 4);
        }
        catch
        {
            foreach (var agent in agents) Console.WriteLine(agent.Output);
            throw;
        }
        finally
        {
            foreach (var agent in agents) agent.Dispose();
        }
    }

    /// <summary>Held-out loss of the base, and of the base with the adapter attached as LoRA branches (as PEFT serves it).</summary>
    static (double Base, double WithAdapter) HeldOutLoss(string modelDirectory, string heldOut, byte[] payload)
    {
        using var model = HfCheckpoint.Load(modelDirectory);
        var tokenizer = TokenizerLoader.Load(modelDirectory);
        var examples = DatasetFiles.Load(heldOut, tokenizer, 64);
        double Loss() => Evaluator.Evaluate(model, TrainingBatcher.Batches(examples, 8, tokenizer.PadId ?? 0, seed: null)).MeanLoss;
        double before = Loss();
        using LoraAdapter adapter = AdapterPayload.Read(payload);
        LoraInjection.Import(model, adapter);
        return (before, Loss());
    }
}
