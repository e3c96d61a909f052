using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Federated.Benchmarks.Coordinator;
using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 3 (cluster mode, a real redis-server): 20 connections ask for a 64 MiB global adapter, read one chunk and
/// stop reading. Downloads must be streamed from Redis in pieces, so each held stream costs a piece, not the payload.
/// The global adapter comes from a real round: one client uploads a 64 MiB adapter (rank 64 on q/k/v/o of a 4096-wide,
/// 8-layer model) and the operator closes the round.
/// </summary>
static class StalledDownloadsAttack
{
    const int Connections = 20;
    static readonly TimeSpan Hold = TimeSpan.FromSeconds(3);
    static readonly FederationSpec Large = new(Clients: 2, Quorum: 1, Rank: 64, Hidden: 4096, Layers: 8, Targets: ["q_proj", "k_proj", "v_proj", "o_proj"], Rounds: 2);

    public static SecurityAttack Attack => new("stalled-downloads", "coordinator", $"{Connections} held 64 MiB downloads; growth < 100 MiB",
        async () =>
        {
            await using var redis = await RedisProcess.StartAsync();
            return await OnCoordinator.RunAsync(SetUpAsync, RunAsync, TimeSpan.FromSeconds(1), redis.Configuration);
        });

    static async Task<(Participant Member, AdapterRef Global)> SetUpAsync(AttackedCoordinator coordinator)
    {
        var federation = await coordinator.FederationAsync(Large);
        var response = await federation.Participants[0].UploadAsync(AttackPayloads.Adapter(Large, seed: 4), "large");
        if (response.UploadStatus != UploadStatus.Accepted) throw new InvalidOperationException($"the 64 MiB upload: {response}");
        var closed = await coordinator.Admin.PostAsync($"/api/federations/{federation.Id}/rounds/1/close", null);
        if (!closed.IsSuccessStatusCode) throw new InvalidOperationException($"close round 1: {(int)closed.StatusCode} {await closed.Content.ReadAsStringAsync()}");
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            var view = await coordinator.Admin.GetFromJsonAsync<JsonObject>($"/api/federations/{federation.Id}");
            if (view?["globalAdapter"] is JsonObject global)
                return (federation.Participants[1], new AdapterRef { Sha256 = global["sha256"]!.GetValue<string>(), Size = global["size"]!.GetValue<long>() });
            await Task.Delay(250);
        }
        throw new TimeoutException("round 1 produced no global adapter within 120 s");
    }

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, (Participant Member, AdapterRef Global) target)
    {
        var tally = new Tally();
        var calls = new List<AsyncServerStreamingCall<AdapterChunk>>();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, Connections).Select(async _ =>
            {
                var call = coordinator.NewAgentClient().DownloadAdapter(new DownloadAdapterRequest { Adapter = target.Global }, target.Member.Auth);
                lock (calls) calls.Add(call);
                try
                {
                    // One chunk, then nothing: the stream's flow-control window fills and the server has to hold the rest.
                    tally.Add(await call.ResponseStream.MoveNext() ? "first chunk, then held" : "empty");
                }
                catch (RpcException e) { tally.Add(e.StatusCode); }
            }));
            await Task.Delay(Hold);
        }
        finally
        {
            foreach (var call in calls) call.Dispose();
        }
        string observed = FormattableString.Invariant($"{Connections} x {target.Global.Size / 1048576.0:F0} MiB: {tally}");
        return tally.All("first chunk, then held") ? AttackOutcome.Bounded(observed) : AttackOutcome.Failed(observed, "the downloads did not start");
    }
}
