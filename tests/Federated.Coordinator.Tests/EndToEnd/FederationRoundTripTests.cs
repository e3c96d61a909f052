using System.Text.Json;
using Federated.Cli;
using Federated.Contracts;
using Federated.Coordinator.Tests.Api;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Core.Formats.Peft;
using Federated.Grains;
using Federated.Storage;

namespace Federated.Coordinator.Tests.EndToEnd;

/// <summary>
/// One round through the whole coordinator: clients register with their grains, the operator creates and starts the
/// federation with <c>fed</c>, agents upload to the update store and submit references (as the gRPC service will),
/// and <c>fed adapter download</c> writes the global adapter as a PEFT directory.
/// </summary>
[Collection(CoordinatorCollection.Name)]
public sealed class FederationRoundTripTests(CoordinatorHost coordinator) : IDisposable
{
    const long GiB = 1L << 30;
    static readonly IReadOnlyList<ModuleShape> Shapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-e2e-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = FedCommandLine.Run([.. args, "--coordinator", coordinator.Address.ToString(), "--api-key", TestOperators.AdminKey], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task A_round_of_mixed_rank_clients_yields_a_downloadable_global_adapter_equal_to_the_weighted_sum()
    {
        string id = CoordinatorHost.NewId("e2e");
        var create = Fed("federation", "create", id, "--base-model", "tiny-llama", "--base-model-dir", BaseModelDirectory.Width32(_dir),
            "--rounds", "1", "--clients-per-round", "3", "--quorum", "2");
        Assert.True(create.Exit == 0, create.Err);

        // Ranks from the default tiers: CPU 4, 8 GiB -> 8, 16 GiB -> 16.
        string[] clients = [$"{id}-cpu", $"{id}-8g", $"{id}-16g"];
        long[] memory = [0, 8 * GiB, 16 * GiB];
        for (int i = 0; i < clients.Length; i++)
            await coordinator.Grains.GetGrain<IClientGrain>(clients[i]).RegisterAsync(id, new ClientCapabilities(memory[i] == 0 ? "cpu" : "cuda", memory[i]));
        var clientShow = Fed("client", "show", clients[2]);
        Assert.True(clientShow.Exit == 0, clientShow.Err);
        Assert.Contains("rank        : 16, alpha 32", clientShow.Out);

        var start = Fed("federation", "start", id);
        Assert.True(start.Exit == 0, start.Err);
        Assert.Contains("round 1 of 1", start.Out);

        var store = coordinator.App.Services.GetRequiredService<IContentStore>();
        var round = coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(id, 1));
        long[] examples = [100, 300, 600];
        var updates = new List<LoraAdapter>();
        for (int i = 0; i < clients.Length; i++)
        {
            var assignment = await round.GetAssignmentAsync(clients[i]) ?? throw new InvalidOperationException($"{clients[i]} was not selected");
            var update = RandomAdapters.Create(Shapes, assignment.Rank, assignment.Alpha, seed: 40 + i, baseModel: assignment.BaseModel);
            updates.Add(update);
            var reference = await store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(update)));
            var receipt = await round.SubmitAsync(clients[i], new Submission(reference, examples[i], assignment.Rank));
            Assert.True(receipt.IsAccepted, $"{clients[i]}: {receipt.Status} {receipt.Reason}");
        }
        Assert.Equal([4, 8, 16], updates.Select(u => u.Modules[0].Rank));

        var finished = await WaitForFederationAsync(id, f => f.GetProperty("status").GetString() is "Completed" or "Failed");
        Assert.Equal("Completed", finished.GetProperty("status").GetString());

        var roundShow = Fed("round", "show", id, "1");
        Assert.True(roundShow.Exit == 0, roundShow.Err);
        Assert.Contains("status      : Closed", roundShow.Out);
        Assert.Contains(clients[1], roundShow.Out);

        string latest = Path.Combine(_dir, "latest"), first = Path.Combine(_dir, "round1");
        var download = Fed("adapter", "download", id, "--out", latest);
        Assert.True(download.Exit == 0, download.Err);
        Assert.Contains($"model of '{id}' after round 1", download.Out);
        Assert.Contains("exact: the sum of 1 delta(s); vLLM needs max_lora_rank >= 32", download.Out);
        Assert.True(File.Exists(Path.Combine(latest, "export_report.json")));
        Assert.Equal(0, Fed("adapter", "download", id, "--round", "1", "--out", first).Exit);
        string truncatedDir = Path.Combine(_dir, "rank6");
        var truncatedDownload = Fed("adapter", "download", id, "--rank", "6", "--out", truncatedDir);
        Assert.True(truncatedDownload.Exit == 0, truncatedDownload.Err);
        Assert.Contains("truncated at rank 6: largest relative Frobenius error", truncatedDownload.Out);
        using (var truncated = PeftAdapterDirectory.Read(truncatedDir))
            Assert.All(truncated.Modules, m => Assert.Equal(6, m.Rank));

        using var global = PeftAdapterDirectory.Read(latest);
        using var again = PeftAdapterDirectory.Read(first);
        Assert.Equal("tiny-llama", global.BaseModel);
        double[] p = examples.Select(n => n / (double)examples.Sum()).ToArray();
        foreach (var m in global.Modules)
        {
            Assert.Equal(4 + 8 + 16, m.Rank); // FLoRA stacks the factors: exact for mixed ranks
            using var expected = TensorAssert.WeightedDeltaSum(updates, p, m.Name);
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
            using var roundDelta = again[m.Name].DenseDelta(float64);
            TensorAssert.Close(actual, roundDelta, 1e-6); // one round: the model is that round's delta
        }
        foreach (var u in updates) u.Dispose();

        // The grains' instruments reach Prometheus through the host's meter provider. The round records its counters as it
        // closes, which may be just after the federation reports completion: poll briefly.
        const string accepted = @"(?m)^federated_updates_accepted_total\{[^}]*\} [1-9]", rounds = @"(?m)^federated_rounds_total\{[^}]*status=""[^""]+""[^}]*\} [1-9]";
        string metrics = "";
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until; await Task.Delay(100))
        {
            metrics = await coordinator.Http.GetStringAsync("/metrics");
            if (System.Text.RegularExpressions.Regex.IsMatch(metrics, accepted) && System.Text.RegularExpressions.Regex.IsMatch(metrics, rounds)) break;
        }
        Assert.Matches(accepted, metrics);
        Assert.Matches(rounds, metrics);
    }

    [Fact]
    public async Task Closing_a_round_early_aggregates_the_quorum_that_submitted_and_below_quorum_fails_it()
    {
        string id = CoordinatorHost.NewId("close");
        Assert.Equal(0, Fed("federation", "create", id, "--base-model", "tiny-llama", "--base-model-dir", BaseModelDirectory.Width32(_dir),
            "--rounds", "2", "--clients-per-round", "3", "--quorum", "2").Exit);
        string[] clients = [$"{id}-a", $"{id}-b", $"{id}-c"];
        foreach (string client in clients)
            await coordinator.Grains.GetGrain<IClientGrain>(client).RegisterAsync(id, new ClientCapabilities("cpu", 0));
        Assert.Equal(0, Fed("federation", "start", id).Exit);

        // Round 1: two of three submit (the quorum), and the operator does not wait for the third or the 30-minute deadline.
        await SubmitAsync(id, 1, clients[..2]);
        Assert.Equal("Open", JsonDocument.Parse(Fed("round", "show", id, "1", "--json").Out).RootElement.GetProperty("status").GetString());
        var close = Fed("round", "close", id, "1");
        Assert.True(close.Exit == 0, close.Err);
        Assert.Matches("status      : (Aggregating|Closed)", close.Out);
        await WaitForFederationAsync(id, f => f.GetProperty("completedRounds").GetInt32() == 1);
        Assert.Contains("status      : Closed", Fed("round", "show", id, "1").Out);
        Assert.Contains("status      : Closed", Fed("round", "close", id, "1").Out); // closing a closed round changes nothing

        // Round 2: one submission is below the quorum of two, so closing fails the round and says why.
        await WaitForRoundAsync(id, 2);
        await SubmitAsync(id, 2, clients[..1]);
        var failed = JsonDocument.Parse(Fed("round", "close", id, "2", "--json").Out).RootElement;
        Assert.Equal("Failed", failed.GetProperty("status").GetString());
        Assert.Contains("quorum", failed.GetProperty("failureReason").GetString());

        var unknown = Fed("round", "close", id, "9");
        Assert.NotEqual(0, unknown.Exit);
        Assert.Contains("round", unknown.Err);
    }

    [Fact]
    public async Task A_round_with_an_energy_threshold_shows_the_error_of_the_truncated_global_it_stored()
    {
        string id = CoordinatorHost.NewId("energy");
        var create = Fed("federation", "create", id, "--base-model", "tiny-llama", "--base-model-dir", BaseModelDirectory.Width32(_dir),
            "--rounds", "1", "--clients-per-round", "3", "--quorum", "3", "--global-energy", "0.5");
        Assert.True(create.Exit == 0, create.Err);
        string[] clients = [$"{id}-a", $"{id}-b", $"{id}-c"];
        foreach (string client in clients)
            await coordinator.Grains.GetGrain<IClientGrain>(client).RegisterAsync(id, new ClientCapabilities("cpu", 0));
        Assert.Equal(0, Fed("federation", "start", id).Exit);
        await SubmitAsync(id, 1, clients);
        await WaitForFederationAsync(id, f => f.GetProperty("status").GetString() is "Completed" or "Failed");

        var view = JsonDocument.Parse(Fed("round", "show", id, "1", "--json").Out).RootElement;
        double error = view.GetProperty("factoringError").GetDouble();
        Assert.InRange(error, 1e-3, Math.Sqrt(0.5)); // three random rank-4 updates: half the energy leaves a visible error
        var show = Fed("round", "show", id, "1");
        Assert.Contains("factoring   : the global re-factored (a robust rule's dense result at low rank, or the stack bounded or truncated), " +
            "largest relative error of a module " + error.ToString("G4", System.Globalization.CultureInfo.InvariantCulture), show.Out);
    }

    async Task SubmitAsync(string id, int roundNumber, string[] clients)
    {
        var store = coordinator.App.Services.GetRequiredService<IContentStore>();
        var round = coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(id, roundNumber));
        foreach (string client in clients)
        {
            var assignment = await round.GetAssignmentAsync(client) ?? throw new InvalidOperationException($"{client} was not selected");
            using var update = RandomAdapters.Create(Shapes, assignment.Rank, assignment.Alpha, seed: client.GetHashCode(), baseModel: assignment.BaseModel);
            var reference = await store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(update)));
            var receipt = await round.SubmitAsync(client, new Submission(reference, 100, assignment.Rank));
            Assert.True(receipt.IsAccepted, $"{client}: {receipt.Status} {receipt.Reason}");
        }
    }

    async Task WaitForRoundAsync(string id, int round)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Fed("round", "show", id, round.ToString(System.Globalization.CultureInfo.InvariantCulture)).Exit != 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"round {round} of {id} did not open");
            await Task.Delay(100);
        }
    }

    async Task<JsonElement> WaitForFederationAsync(string id, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var view = JsonDocument.Parse(await coordinator.Http.GetStringAsync($"/api/federations/{id}")).RootElement;
            if (until(view)) return view;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"federation {id} still {view.GetProperty("status")}");
            await Task.Delay(100);
        }
    }
}
