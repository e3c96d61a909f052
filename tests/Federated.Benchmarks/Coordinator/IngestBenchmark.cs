using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Federated.Benchmarks.Security;
using Federated.Benchmarks.Security.Coordinator;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Core.Runtime;
using Federated.Grains.Federations;
using Federated.Protocol.V1;
using Federated.Testing;
using Google.Protobuf;
using Grpc.Core;

namespace Federated.Benchmarks.Coordinator;

/// <summary>
/// Issue 17's ingest at scale: one process plays 1,000 agents (many concurrent gRPC streams, each agent with its own
/// enrollment, credential and payload) that upload real rank-16 q/v adapters of Qwen2-0.5B's shapes (4.3 MB each,
/// 4.3 GB a round) through the agents' endpoint into one round, on one coordinator silo and then on three silos that
/// share one redis-server (agents spread over the silos' endpoints, as a load balancer would). Measured: the round's
/// wall time (first upload to closed), the upload phase, the aggregation, each silo's CPU (utime + stime) and peak
/// resident set (sampled every 100 ms), Redis's peak memory and the global's size.
/// FedIT, so the global is one rank-16 adapter; a FLoRA global of this round would be a rank-16,000 stack.
/// Two rounds by default: the first is a fresh process's (its JIT, pools and heaps grow), the second a coordinator's steady
/// state, which is what a federation running round after round pays.
/// Run: deploy/benchmark.sh ingest [1] [3] [--clients N] [--rounds N]
/// </summary>
static class IngestBenchmark
{
    const int Rank = 16, InFlight = 64, SourceAddresses = 20, ChunkBytes = 1 << 20;
    const string BaseModel = FederationSpec.BaseModel;
    static readonly ModelArchitecture Qwen05B = new(896, 24, 14, 2, 4864);
    static readonly string[] Targets = ["q_proj", "v_proj"];

    public static async Task<int> RunAsync(string[] args)
    {
        int clients = 1000, rounds = 2;
        var silos = new List<int>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--clients" && i + 1 < args.Length) clients = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--rounds" && i + 1 < args.Length) rounds = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (int.TryParse(args[i], CultureInfo.InvariantCulture, out int s) && s >= 1) silos.Add(s);
            else throw new ArgumentException($"usage: ingest [SILOS...] [--clients N] [--rounds N], not '{args[i]}'");
        }
        if (rounds < 1) throw new ArgumentException($"--rounds must be at least 1, not {rounds}");
        if (silos.Count == 0) silos = [1, 3];

        using var template = RandomAdapters.Create(BaseModelManifest.ModuleShapes(Qwen05B, Targets)!, Rank, alpha: 2 * Rank, seed: 17, baseModel: BaseModel);
        byte[] payload = AdapterPayload.ToBytes(template);
        Log($"== floor: {clients:N0} uploads into the storing upload sink, {rounds} round(s)");
        var floor = await RunFloorAsync(clients, rounds, payload);
        var results = new List<IngestResult>();
        foreach (int count in silos)
        {
            Log($"== {count} silo(s), {clients:N0} agents, {payload.Length:N0}-byte payloads");
            results.AddRange(await RunOnceAsync(count, clients, rounds, payload));
        }
        string report = Report(results, floor, clients, payload.Length);
        Console.WriteLine();
        Console.WriteLine(report);
        ResultsFile.Append("Ingest at scale (`deploy/benchmark.sh ingest`)", "Orleans 10.4.2, redis-server 7, real coordinator processes on loopback", report);
        return 0;
    }

    static async Task<List<IngestResult>> RunOnceAsync(int siloCount, int clientCount, int rounds, byte[] payload)
    {
        await using var redis = new RedisServer();
        await redis.InitializeAsync();
        string cluster = $"ingest-{Guid.NewGuid():N}";
        var silos = new List<AttackedCoordinator>();
        try
        {
            // One at a time: the first silo creates the cluster's tables, the others join it.
            // The suite's 5 s upload idle timeout is for its abandoned-upload attack; a loaded ingest keeps the production default.
            for (int i = 0; i < siloCount; i++)
                silos.Add(await AttackedCoordinator.StartAsync(redis.Configuration, cluster, ["--Coordinator:Staging:IdleTimeout=00:30:00"]));
            var admin = silos[0].Admin;
            string federation = $"ingest-{Guid.NewGuid():N}"[..20];
            var created = await admin.PostAsJsonAsync("/api/federations", new { id = federation, config = Config(clientCount, rounds) });
            if (!created.IsSuccessStatusCode) throw new InvalidOperationException($"create federation: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");

            // Agents come from SourceAddresses loopback addresses (each its own Register budget) and are spread over the silos.
            var channels = new AgentService.AgentServiceClient[siloCount, SourceAddresses];
            for (int s = 0; s < siloCount; s++)
                for (int a = 0; a < SourceAddresses; a++)
                {
                    silos[s].Source = IPAddress.Parse($"127.0.1.{a + 1}");
                    channels[s, a] = silos[s].NewAgentClient();
                }
            var agents = new Agent[clientCount];
            var clock = Stopwatch.StartNew();
            await ForEachAsync(clientCount, 16, async i =>
            {
                var client = channels[i % siloCount, i / siloCount % SourceAddresses];
                var response = await client.RegisterAsync(new RegisterRequest
                {
                    FederationId = federation, EnrollmentToken = CoordinatorLaunch.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
                });
                agents[i] = new Agent(client, new Metadata { { "authorization", "Bearer " + response.ClientCredential } });
            });
            Log($"enrolled {clientCount:N0} agents in {clock.Elapsed.TotalSeconds:F1} s");
            var started = await admin.PostAsync($"/api/federations/{federation}/start", null);
            if (!started.IsSuccessStatusCode) throw new InvalidOperationException($"start: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
            var results = new List<IngestResult>();
            for (int round = 1; round <= rounds; round++)
            {
                Log($"round {round}");
                results.Add(await MeasureRoundAsync(redis, silos, admin, federation, agents, round, payload));
            }
            return results;
        }
        finally
        {
            foreach (var silo in silos) await silo.DisposeAsync();
        }
    }

    /// <summary>Every agent fetches its task for <paramref name="round"/>, then its upload, the aggregation and the close are measured.</summary>
    static async Task<IngestResult> MeasureRoundAsync(RedisServer redis, List<AttackedCoordinator> silos, HttpClient admin, string federation, Agent[] agents,
        int round, byte[] payload)
    {
        int siloCount = silos.Count, clientCount = agents.Length;
        await ForEachAsync(clientCount, 16, async i =>
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            GetTaskResponse task;
            while ((task = await agents[i].Client.GetTaskAsync(new GetTaskRequest(), agents[i].Auth)).OutcomeCase != GetTaskResponse.OutcomeOneofCase.Task
                || task.Task.Round != round)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"agent {i} got no task for round {round}: {task}");
                await Task.Delay(200);
            }
            agents[i].Task = task.Task;
        });
        foreach (var silo in silos) await silo.Probe.WaitQuietAsync(limit: TimeSpan.FromSeconds(30));

        // Measured from here: the uploads, then the round's aggregation and close.
        var probes = silos.Select(s => s.Probe).ToArray();
        var cpuBefore = probes.Select(p => p.CpuSeconds ?? 0).ToArray();
        long redisBefore = await redis.MemoryInfoAsync("used_memory");
        var sampler = new PeakSampler(probes);
        var clock = Stopwatch.StartNew();
        long accepted = 0;
        var refusals = new Tally();
        var retries = new Tally();
        await ForEachAsync(clientCount, InFlight, async i =>
        {
            byte[] bytes = Variant(payload, (round - 1) * clientCount + i);
            // As an agent does: a failed upload is tried again (a new call resumes or restarts it).
            UploadStatus status;
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    status = await UploadAsync(agents[i], bytes);
                    break;
                }
                catch (RpcException e) when (attempt < 3)
                {
                    retries.Add(e.StatusCode);
                }
            }
            if (status == UploadStatus.Accepted) Interlocked.Increment(ref accepted);
            else refusals.Add(status.ToString());
            if ((i + 1) % 100 == 0) Log($"  {i + 1:N0} uploads begun, {clock.Elapsed.TotalSeconds:F1} s");
        }, onError: e => refusals.Add(e is RpcException r ? r.StatusCode.ToString() : e.GetType().Name));
        var uploaded = clock.Elapsed;
        var cpuUploaded = probes.Select((p, s) => (p.CpuSeconds ?? 0) - cpuBefore[s]).ToArray();
        Log($"uploads done in {uploaded.TotalSeconds:F1} s: {accepted:N0} accepted; refused: {refusals}; retried: {retries}");

        JsonObject closedRound;
        try { closedRound = await WaitClosedAsync(admin, federation, round, TimeSpan.FromMinutes(20), silos); }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{string.Join("\n", silos.Select((silo, s) => $"silo {s}:\n{silo.Output.Count} lines; last:\n{string.Join('\n', silo.Output.TakeLast(15))}"))}");
        }
        var closed = clock.Elapsed;
        var peaks = await sampler.StopAsync();
        long redisPeak = await redis.MemoryInfoAsync("used_memory_peak");
        var cpu = probes.Select((p, s) => (p.CpuSeconds ?? 0) - cpuBefore[s]).ToArray();
        var federationView = await admin.GetFromJsonAsync<JsonObject>($"/api/federations/{federation}");
        return new IngestResult(siloCount, round, (int)accepted, refusals.Total + retries.Total > 0 ? $"refused: {refusals}; retried: {retries}" : "", uploaded, closed,
            Seconds(closedRound["aggregationTime"]), closedRound["failureReason"]?.GetValue<string>(), cpu, cpuUploaded.Sum(), peaks,
            probes.Select(p => p.PeakRss ?? 0).ToArray(), redisBefore, redisPeak,
            federationView?["globalAdapter"]?["size"]?.GetValue<long>());
    }

    /// <summary>
    /// The same agents' uploads (same payload variants, in-flight limit and connection count) into <see cref="UploadSink"/>'s
    /// storing mode on its own redis-server, round after round: receive, SHA-256 and APPEND each upload, then GET every payload
    /// back and add it into a FedAvg accumulator. The least a coordinator that keeps content-addressed uploads in Redis
    /// spends per GB on this machine, measured as the silos are.
    /// </summary>
    static async Task<List<FloorResult>> RunFloorAsync(int clientCount, int rounds, byte[] payload)
    {
        await using var redis = new RedisServer();
        await redis.InitializeAsync();
        await using var sink = await Upload.UploadBenchmark.SinkChild.StartAsync(redis.Configuration);
        var probe = new ProcessProbe(sink.Pid);
        var channels = Enumerable.Range(0, SourceAddresses).Select(_ => Grpc.Net.Client.GrpcChannel.ForAddress(sink.Address,
            new Grpc.Net.Client.GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() })).ToArray();
        using var http = new HttpClient
        {
            BaseAddress = sink.Address, Timeout = TimeSpan.FromMinutes(10),
            DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, // h2c, as the sink serves
        };
        var results = new List<FloorResult>();
        try
        {
            var agents = Enumerable.Range(0, clientCount).Select(i => new Agent(new AgentService.AgentServiceClient(channels[i % SourceAddresses]), [])).ToArray();
            for (int round = 1; round <= rounds; round++)
            {
                foreach (var agent in agents) agent.Task = new TrainingTask { FederationId = "floor", Round = round, Rank = Rank };
                await probe.WaitQuietAsync(limit: TimeSpan.FromSeconds(30));
                double before = probe.CpuSeconds ?? 0;
                var sampler = new PeakSampler([probe]);
                var clock = Stopwatch.StartNew();
                int r = round;
                await ForEachAsync(clientCount, InFlight, async i =>
                {
                    var status = await UploadAsync(agents[i], Variant(payload, (r - 1) * clientCount + i));
                    if (status != UploadStatus.Accepted) throw new InvalidOperationException($"the sink answered {status}");
                });
                var uploads = clock.Elapsed;
                double uploadCpu = (probe.CpuSeconds ?? 0) - before;
                var readBack = await http.PostAsync("/read-back", null);
                readBack.EnsureSuccessStatusCode();
                var total = clock.Elapsed;
                results.Add(new FloorResult(round, uploads, total - uploads, uploadCpu, (probe.CpuSeconds ?? 0) - before - uploadCpu, (await sampler.StopAsync())[0]));
                Log($"  floor round {round}: uploads {uploads.TotalSeconds:F1} s, {uploadCpu:F1} CPU s; read-back {(total - uploads).TotalSeconds:F1} s");
            }
            return results;
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    /// <summary>The template with 64 float32 values of its data changed: a distinct, equally valid update per agent.</summary>
    static byte[] Variant(byte[] template, int seed)
    {
        var bytes = (byte[])template.Clone();
        long dataStart = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var random = new Random(seed);
        long floats = (bytes.Length - dataStart) / 4;
        for (int j = 0; j < 64; j++)
        {
            long at = dataStart + 4 * random.NextInt64(floats);
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((int)at), (float)(random.NextDouble() - 0.5) * 0.04f);
        }
        return bytes;
    }

    static async Task<UploadStatus> UploadAsync(Agent agent, byte[] payload)
    {
        var task = agent.Task!;
        using var call = agent.Client.UploadUpdate(agent.Auth);
        string sha = Convert.ToHexStringLower(SHA256.HashData(payload));
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = $"r{task.Round}-{sha[..16]}", FederationId = task.FederationId, Round = task.Round, Sha256 = sha,
                Size = payload.Length, Offset = 0, ExampleCount = 100, Rank = task.Rank,
            },
        });
        for (int at = 0; at < payload.Length; at += ChunkBytes)
            await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = UnsafeByteOperations.UnsafeWrap(payload.AsMemory(at, Math.Min(ChunkBytes, payload.Length - at))) });
        await call.RequestStream.CompleteAsync();
        return (await call).UploadStatus;
    }

    /// <summary>Polls the round until it closes, echoing the silos' warnings and errors as they appear.</summary>
    static async Task<JsonObject> WaitClosedAsync(HttpClient admin, string federation, int number, TimeSpan limit, List<AttackedCoordinator> silos)
    {
        var deadline = DateTime.UtcNow + limit;
        int polls = 0;
        var echoed = silos.Select(s => s.Output.Count).ToArray();
        while (true)
        {
            var round = await admin.GetFromJsonAsync<JsonObject>($"/api/federations/{federation}/rounds/{number}");
            if (round?["closedAt"] is JsonValue) return round;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"round {number} did not close within {limit}: {round?.ToJsonString()[..Math.Min(600, round.ToJsonString().Length)]}");
            if (++polls % 40 == 0) Log($"  round {number}: {round?["status"]}, {round?["submitted"]} submitted");
            for (int s = 0; s < silos.Count; s++)
            {
                var lines = silos[s].Output;
                foreach (var line in lines.Skip(echoed[s]).Where(l => l.Contains("\"@l\":\"Warning\"", StringComparison.Ordinal) || l.Contains("\"@l\":\"Error\"", StringComparison.Ordinal)))
                    Log($"  silo {s}: {line[..Math.Min(line.Length, 1500)]}");
                echoed[s] = lines.Count;
            }
            await Task.Delay(250);
        }
    }

    /// <summary>Runs <paramref name="body"/> for 0..count-1 with at most <paramref name="width"/> at once; errors go to <paramref name="onError"/> or fail the run.</summary>
    static async Task ForEachAsync(int count, int width, Func<int, Task> body, Action<Exception>? onError = null)
    {
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, width).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                try { await body(i); }
                catch (Exception e) when (onError is not null) { onError(e); }
            }
        }));
    }

    static object Config(int clients, int rounds) => new
    {
        baseModel = BaseModel,
        targetModules = Targets,
        rankPolicy = new { cpuRank = Rank, tiers = Array.Empty<object>() },
        aggregation = new { strategy = "fedit" },
        rounds, clientsPerRound = clients, quorum = clients, roundDeadline = "01:00:00", clientTimeout = "01:00:00",
        architecture = new
        {
            hiddenSize = Qwen05B.HiddenSize, numHiddenLayers = Qwen05B.NumHiddenLayers, numAttentionHeads = Qwen05B.NumAttentionHeads,
            numKeyValueHeads = Qwen05B.NumKeyValueHeads, intermediateSize = Qwen05B.IntermediateSize,
        },
    };

    static double? Seconds(JsonNode? span) =>
        span?.GetValue<string>() is { } text && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var t) ? t.TotalSeconds : null;

    static string Report(List<IngestResult> results, List<FloorResult> floor, int clients, int payloadBytes)
    {
        double gigabytes = (double)clients * payloadBytes / 1e9;
        var text = new StringBuilder();
        text.AppendLine(Inv($"{clients:N0} agents in one process (up to {InFlight} uploads in flight, {ChunkBytes >> 20} MiB messages, {SourceAddresses} source addresses) each upload a distinct rank-16 q/v adapter of Qwen2-0.5B's shapes ({payloadBytes:N0} bytes; {gigabytes:F2} GB in all) through the agents' gRPC endpoints into a FedIT round, round after round; cluster mode, every silo on one redis-server and with the coordinator image's GLIBC_TUNABLES ({NativeAllocator.CoordinatorTunables}), agents spread evenly over the silos. Round time = first upload begun to the round closed (polled every 250 ms); CPU = utime + stime of each silo process over that span (split at the last upload's end: the uploads, then the aggregation and close); peak = VmRSS sampled every 100 ms (VmHWM in brackets, which includes start-up)."));
        text.AppendLine();
        text.AppendLine("| silos | round | accepted | uploads | round time | aggregation | CPU s per silo | core-s per GB (uploads + rest) | peak RSS per silo, MiB | Redis peak, MiB | global |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|");
        foreach (var r in results)
        {
            text.AppendLine(Inv($"| {r.Silos} | {r.Round} | {r.Accepted:N0}{(r.Refusals.Length > 0 ? $" ({r.Refusals})" : "")} | {r.Uploads.TotalSeconds:F1} s | {r.Closed.TotalSeconds:F1} s | ") +
                (r.AggregationSeconds is { } a ? Inv($"{a:F1} s") : $"none ({r.Failure})") +
                Inv($" | {string.Join(" / ", r.Cpu.Select(c => c.ToString("F1", CultureInfo.InvariantCulture)))} | {r.Cpu.Sum() / gigabytes:F2} ({r.UploadCpu / gigabytes:F2} + {(r.Cpu.Sum() - r.UploadCpu) / gigabytes:F2}) | ") +
                string.Join(" / ", r.PeakRss.Zip(r.Hwm, (p, h) => Inv($"{p / 1048576.0:F0} ({h / 1048576.0:F0})"))) +
                Inv($" | {r.RedisPeak / 1048576.0:F0} | {(r.GlobalBytes is { } g ? $"{g:N0} B" : "none")} |"));
        }
        text.AppendLine();
        text.AppendLine("Floor: the same uploads into a process that does only what storing them in Redis and averaging them must (`upload-sink` with a Redis: the coordinator's transport and runtime settings; per data message SHA-256 and one APPEND, the digest checked at the end; then every payload read back with GET and added, weighted, into one float32 accumulator), on its own redis-server, measured alike:");
        text.AppendLine();
        text.AppendLine("| round | uploads | read-back and sum | CPU s | core-s per GB (uploads + read-back) | peak RSS, MiB |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var f in floor)
            text.AppendLine(Inv($"| {f.Round} | {f.Uploads.TotalSeconds:F1} s | {f.ReadBack.TotalSeconds:F1} s | {f.UploadCpu + f.ReadBackCpu:F1} | {(f.UploadCpu + f.ReadBackCpu) / gigabytes:F2} ({f.UploadCpu / gigabytes:F2} + {f.ReadBackCpu / gigabytes:F2}) | {f.PeakRss / 1048576.0:F0} |"));
        text.AppendLine();
        text.AppendLine(Inv($"Targets (issue 17): coordinator CPU <= 2 core-seconds per GB uploaded; peak memory <= 2 GiB per silo."));
        return text.ToString();
    }

    static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    static void Log(string line) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");

    sealed class Agent(AgentService.AgentServiceClient client, Metadata auth)
    {
        public AgentService.AgentServiceClient Client => client;
        public Metadata Auth => auth;
        public TrainingTask? Task { get; set; }
    }

    /// <summary>Each process's highest VmRSS, sampled every 100 ms from construction until <see cref="StopAsync"/>.</summary>
    sealed class PeakSampler
    {
        readonly long[] _peaks;
        readonly CancellationTokenSource _stop = new();
        readonly Task _sampling;

        public PeakSampler(ProcessProbe[] probes)
        {
            _peaks = probes.Select(p => p.Rss ?? 0).ToArray();
            _sampling = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    for (int s = 0; s < probes.Length; s++) _peaks[s] = Math.Max(_peaks[s], probes[s].Rss ?? 0);
                    try { await Task.Delay(100, _stop.Token); }
                    catch (OperationCanceledException) { }
                }
            });
        }

        public async Task<long[]> StopAsync()
        {
            await _stop.CancelAsync();
            await _sampling;
            _stop.Dispose();
            return _peaks;
        }
    }

    sealed record FloorResult(int Round, TimeSpan Uploads, TimeSpan ReadBack, double UploadCpu, double ReadBackCpu, long PeakRss);

    sealed record IngestResult(int Silos, int Round, int Accepted, string Refusals, TimeSpan Uploads, TimeSpan Closed, double? AggregationSeconds, string? Failure,
        double[] Cpu, double UploadCpu, long[] PeakRss, long[] Hwm, long RedisBefore, long RedisPeak, long? GlobalBytes);
}
