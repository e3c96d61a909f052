using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Federated.Benchmarks.Coordinator;
using Federated.Protocol.V1;
using Grpc.Core;
using Federated.Testing;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 3 (cluster mode, a real redis-server): 20 connections ask for a 64 MiB global adapter, read one chunk and
/// stop reading. Downloads must be streamed from Redis in pieces, so each held stream costs a piece, not the payload.
/// The global adapter comes from a real round: its one client uploads a 64 MiB adapter (rank 64 on q/k/v/o of a 512-wide,
/// 64-layer model: narrow, so the set-up's aggregation takes seconds, not minutes, on two cores), which closes the round.
/// </summary>
static class StalledDownloadsAttack
{
    const int Connections = 20;
    static readonly TimeSpan Hold = TimeSpan.FromSeconds(3);
    static readonly FederationSpec Large = new(Clients: 1, Rank: 64, Hidden: 512, Layers: 64, Targets: ["q_proj", "k_proj", "v_proj", "o_proj"], Rounds: 2);

    public static SecurityAttack Attack => new("stalled-downloads", "coordinator", $"{Connections} held 64 MiB downloads; growth < 100 MiB",
        async () =>
        {
            await using var redis = new RedisServer();
            await redis.InitializeAsync();
            return await OnCoordinator.RunAsync(SetUpAsync, RunAsync, TimeSpan.FromSeconds(1), redis.Configuration, twice: true);
        });

    static async Task<(Participant Member, AdapterRef Global)> SetUpAsync(AttackedCoordinator coordinator)
    {
        var federation = await coordinator.FederationAsync(Large);
        var response = await federation.Participants[0].UploadAsync(AttackPayloads.Adapter(Large, seed: 4), "large");
        if (response.UploadStatus != UploadStatus.Accepted) throw new InvalidOperationException($"the 64 MiB upload: {response}");
        var deadline = DateTime.UtcNow.AddSeconds(180);
        JsonObject? view = null;
        while (DateTime.UtcNow < deadline)
        {
            view = await coordinator.Admin.GetFromJsonAsync<JsonObject>($"/api/federations/{federation.Id}");
            if (view?["globalAdapter"] is JsonObject global)
                return (federation.Participants[0], new AdapterRef { Sha256 = global["sha256"]!.GetValue<string>(), Size = global["size"]!.GetValue<long>() });
            await Task.Delay(250);
        }
        var problems = coordinator.Output.Where(l => l.Contains("\"@l\":\"Error\"", StringComparison.Ordinal) || l.Contains("\"@l\":\"Warning\"", StringComparison.Ordinal));
        throw new TimeoutException($"round 1 produced no global adapter within 180 s: {view}\n{string.Join('\n', problems.TakeLast(5))}");
    }

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, (Participant Member, AdapterRef Global) target)
    {
        var tally = new Tally();
        string? error = null;
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
                catch (RpcException e)
                {
                    tally.Add(e.StatusCode);
                    error ??= e.Status.Detail;
                }
            }));
            await Task.Delay(Hold);
        }
        finally
        {
            foreach (var call in calls) call.Dispose();
        }
        string observed = FormattableString.Invariant($"{Connections} x {target.Global.Size / 1048576.0:F0} MiB: {tally}{(error is null ? "" : $" ({BombAttack.Short(error)}: {Exception(coordinator.LastError())})")}");
        return tally.All("first chunk, then held") ? AttackOutcome.Bounded(observed) : AttackOutcome.Failed(observed, "downloads failed on the coordinator");
    }

    /// <summary>The exception's first line from a compact JSON log event.</summary>
    static string Exception(string? line)
    {
        if (line is null) return "no error logged";
        int at = line.IndexOf("\"@x\":\"", StringComparison.Ordinal);
        string text = at < 0 ? line : line[(at + 6)..];
        int end = text.IndexOf("\\n", StringComparison.Ordinal);
        return BombAttack.Short(end < 0 ? text : text[..end]);
    }
}
