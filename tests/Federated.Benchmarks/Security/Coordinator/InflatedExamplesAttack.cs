using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 10: three clients upload genuine adapters into a round under a robust rule (median); one claims 1,000,000
/// examples, the others 100. After the round closes, the round view must show each client's weight as 1/3. Round 1, all
/// honest, is set-up: the coordinator's first aggregation loads libtorch (~100 MiB of native code), which is not the attack's.
/// </summary>
static class InflatedExamplesAttack
{
    const long Honest = 100, Inflated = 1_000_000;
    static readonly FederationSpec Robust = new(Clients: 3, Rule: "median", Rounds: 2);

    public static SecurityAttack Attack => new("inflated-examples", "coordinator", "weights 1/3 each under median (the claim counts for nothing extra)",
        () => OnCoordinator.RunAsync(SetUpAsync, RunAsync, TimeSpan.FromSeconds(1)));

    /// <summary>Round 1 with honest claims, closed; every participant then holds its round-2 task.</summary>
    static async Task<SuiteFederation> SetUpAsync(AttackedCoordinator coordinator)
    {
        var federation = await coordinator.FederationAsync(Robust);
        for (int i = 0; i < federation.Participants.Count; i++)
            await federation.Participants[i].UploadAsync(AttackPayloads.Adapter(Robust, seed: i), $"honest-{i}", exampleCount: Honest);
        await WaitForOutcomesAsync(coordinator, federation.Id, round: 1);
        foreach (var p in federation.Participants)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            Protocol.V1.GetTaskResponse response;
            while ((response = await p.Client.GetTaskAsync(new Protocol.V1.GetTaskRequest(), p.Auth)).Task?.Round != 2)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"client {p.ClientId} got no round-2 task: {response}");
                await Task.Delay(200);
            }
            p.Task = response.Task;
        }
        return federation;
    }

    static async Task<JsonObject?> WaitForOutcomesAsync(AttackedCoordinator coordinator, string federation, int round)
    {
        JsonObject? view = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            view = await coordinator.Admin.GetFromJsonAsync<JsonObject>($"/api/federations/{federation}/rounds/{round}");
            if (view?["outcomes"] is JsonArray { Count: > 0 }) break;
            await Task.Delay(250);
        }
        return view;
    }

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        var participants = federation.Participants;
        for (int i = 0; i < participants.Count; i++)
            await participants[i].UploadAsync(AttackPayloads.Adapter(Robust, seed: 10 + i), $"examples-{i}", exampleCount: i == 2 ? Inflated : Honest);
        // All selected clients are in, so the round closes by itself.
        var round = await WaitForOutcomesAsync(coordinator, federation.Id, round: 2);
        if (round?["outcomes"] is not JsonArray { Count: > 0 } outcomes)
            return AttackOutcome.Failed($"round 2: {round?["status"]}, no outcomes after 60 s", "the round did not aggregate");
        string inflatedId = participants[2].ClientId;
        var weights = outcomes.Select(o => (Id: o!["clientId"]!.GetValue<string>(), Weight: o["weight"]!.GetValue<double>())).ToList();
        double inflatedWeight = weights.FirstOrDefault(w => w.Id == inflatedId).Weight;
        string observed = FormattableString.Invariant(
            $"claims {Honest}/{Honest}/{Inflated:N0}: weights {string.Join("/", weights.Select(w => w.Weight.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}, inflated client {inflatedWeight:F3}");
        bool equal = weights.Count == 3 && weights.All(w => Math.Abs(w.Weight - 1.0 / 3) < 1e-6);
        return equal ? AttackOutcome.Bounded(observed) : AttackOutcome.Failed(observed, "the inflated claim outweighs the others");
    }
}
