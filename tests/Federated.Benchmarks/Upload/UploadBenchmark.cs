using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Benchmarks.Coordinator;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Federated.Testing;

namespace Federated.Benchmarks.Upload;

/// <summary>
/// Agent upload throughput and coordinator memory, against the real coordinator run as a child process
/// (Federated.Coordinator.dll, embedded mode: directory staging and update store on local disk, state in memory).
/// <list type="number">
/// <item>Throughput: one agent uploads a ~64 MB and a ~256 MB adapter payload (random LoRA factors, rank 64, fixed
/// rank policy) over loopback gRPC in 1 MiB messages, timed from opening the call to the ACCEPTED response (staging
/// durability, SHA-256 verification, validation, the store's put and the round's submit). Baselines in the same run:
/// a raw loopback TCP copy of the same bytes into a discarding reader, and one into a file on the same disk, fsynced.</item>
/// <item>Memory: 20 agents upload a 64 MB payload each at once to a fresh coordinator process whose VmRSS is sampled
/// every 100 ms; flat means growth bounded by per-upload buffers, not by the 1.28 GB that goes through.</item>
/// </list>
/// Run: deploy/benchmark.sh upload [throughput|memory]   (both by default; appends to tests/Federated.Benchmarks/RESULTS.md)
/// </summary>
static class UploadBenchmark
{
    const int Rank = 64, Hidden = 4096, Repetitions = 5, ConcurrentAgents = 20, ChunkBytes = 1 << 20;
    const double TargetRatio = 0.5;
    /// <summary>gRPC message sizes measured: the coordinator's 1 MiB limit and a size under the runtime's large-object threshold (85,000 B).</summary>
    static readonly int[] ChunkSizes = [64 << 10, 1 << 20];
    const int AgentChunkBytes = 1 << 20; // AgentOptions.UploadChunkBytes' default
    static readonly string[] Targets = ["q_proj", "k_proj", "v_proj", "o_proj"];
    const string Token = "upload-benchmark-enrollment-token-0123456789", BaseModel = "bench-model";

    public static async Task<int> RunAsync(string[] parts)
    {
        if (parts.Length == 0) parts = ["throughput", "memory"];
        if (parts.Except(["throughput", "memory"]).Any()) throw new ArgumentException($"parts are throughput and memory, not {string.Join(", ", parts)}");
        var report = new StringBuilder();
        report.AppendLine(FormattableString.Invariant(
            $"Real coordinator process (Federated.Coordinator.dll, embedded mode, directory staging and store under {Path.GetTempPath()}, server GC), one gRPC channel per agent over loopback h2c, data messages of 64 KiB and 1 MiB (the memory run: 1 MiB, the agent's default); payloads are AdapterPayload files of random rank-{Rank} LoRA factors on q/k/v/o_proj of a {Hidden}-wide model (float32), fixed rank policy {Rank}."));
        report.AppendLine();
        if (parts.Contains("throughput")) report.Append(await ThroughputAsync());
        if (parts.Contains("memory")) report.Append(await MemoryAsync());
        Console.WriteLine();
        Console.WriteLine(report);
        ResultsFile.Append("Agent uploads (`deploy/benchmark.sh upload`)", "gRPC 2.85", report.ToString());
        return 0;
    }

    static async Task<string> ThroughputAsync()
    {
        var rows = new List<(string Label, long Bytes, int Chunk, double Grpc, double Sink, double Raw, double RawFile, double CoordinatorCpu, double SinkCpu, double AgentCpu)>();
        string scratch = Directory.CreateTempSubdirectory("fed-upload-bench-raw-").FullName;
        await using var coordinator = await CoordinatorChild.StartAsync();
        await using var sink = await SinkChild.StartAsync();
        await WarmUpAsync(coordinator, sink);
        try
        {
            foreach (var (label, layers) in new[] { ("64 MB", 8), ("256 MB", 32) })
            {
                var payload = Payload(layers);
                var raw = new List<double>();
                var rawFile = new List<double>();
                await RawCopyAsync(payload, null); // warm-up
                for (int i = 0; i < Repetitions; i++)
                {
                    raw.Add(await RawCopyAsync(payload, null));
                    rawFile.Add(await RawCopyAsync(payload, Path.Combine(scratch, "copy")));
                }
                Log($"{label}: raw TCP median {Rate(payload.Length, Statistics.Median(raw))}, raw TCP to file + fsync median {Rate(payload.Length, Statistics.Median(rawFile))}");
                foreach (int chunk in ChunkSizes)
                {
                    Log($"{label} in {chunk >> 10} KiB messages: payload {payload.Length:N0} bytes; {Repetitions} repetitions after a warm-up");
                    // One agent per upload (an agent submits once per round), plus one that never uploads so the round stays open.
                    var agents = await coordinator.StartedFederationAsync(Repetitions + 2, layers);
                    var grpc = new List<double>();
                    var discarded = new List<double>();
                    var cpu = new List<(double Coordinator, double Sink, double Agent)>();
                    for (int i = 0; i <= Repetitions; i++)
                    {
                        Stamp(payload, i + chunk); // distinct bytes: the store would otherwise already hold them
                        string sha = Convert.ToHexStringLower(SHA256.HashData(payload));
                        double coordinatorCpu = coordinator.CpuSeconds, agentCpu = SelfCpuSeconds;
                        var clock = Stopwatch.StartNew();
                        var response = await agents[i].UploadAsync(payload, sha, $"bench-{i}", chunk);
                        double seconds = clock.Elapsed.TotalSeconds;
                        (coordinatorCpu, agentCpu) = (coordinator.CpuSeconds - coordinatorCpu, SelfCpuSeconds - agentCpu);
                        if (response.Status != "ACCEPTED") throw new InvalidOperationException($"upload {i}: {response.Status}");
                        double sinkCpu = sink.CpuSeconds;
                        clock.Restart();
                        await UploadOverAsync(sink.Channel, [], agents[i].Assignment, payload, sha, $"sink-{i}", chunk);
                        double sinkSeconds = clock.Elapsed.TotalSeconds;
                        sinkCpu = sink.CpuSeconds - sinkCpu;
                        if (i > 0) { grpc.Add(seconds); discarded.Add(sinkSeconds); cpu.Add((coordinatorCpu, sinkCpu, agentCpu)); }
                        Log(FormattableString.Invariant($"  {(i == 0 ? "warm-up" : i.ToString(CultureInfo.InvariantCulture))}: upload {Rate(payload.Length, seconds)} (CPU: coordinator {coordinatorCpu:F2} s, agent {agentCpu:F2} s), to the discarding server {Rate(payload.Length, sinkSeconds)} (its CPU {sinkCpu:F2} s)"));
                    }
                    rows.Add((label, payload.Length, chunk, Statistics.Median(grpc), Statistics.Median(discarded), Statistics.Median(raw), Statistics.Median(rawFile),
                        Statistics.Median(cpu.Select(c => c.Coordinator)), Statistics.Median(cpu.Select(c => c.Sink)), Statistics.Median(cpu.Select(c => c.Agent))));
                }
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        var s = new StringBuilder();
        s.AppendLine(FormattableString.Invariant($"Upload throughput, median of {Repetitions} (after 4 unmeasured uploads per message size to each server, then one warm-up per configuration): upload = UploadUpdate to the coordinator from opening the call to the ACCEPTED response; gRPC alone = the same messages to a process that serves UploadUpdate with the coordinator's gRPC and Kestrel settings but discards the data (`UploadSink`); raw = the same bytes over a loopback TCP socket (1 MiB writes) into a reader that discards them, and into a file on the same disk fsynced at the end, until the reader's 1-byte acknowledgement."));
        s.AppendLine();
        s.AppendLine("| payload | messages | upload | gRPC alone | raw TCP copy | raw TCP to file + fsync | upload / raw | upload / raw to file | gRPC alone / raw | upload / gRPC alone | CPU s: coordinator / server alone / agent |");
        s.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            s.AppendLine(FormattableString.Invariant(
                $"| {r.Label} ({r.Bytes:N0} B) | {r.Chunk >> 10} KiB | {Rate(r.Bytes, r.Grpc)} | {Rate(r.Bytes, r.Sink)} | {Rate(r.Bytes, r.Raw)} | {Rate(r.Bytes, r.RawFile)} | {r.Raw / r.Grpc:F2} | {r.RawFile / r.Grpc:F2} | {r.Raw / r.Sink:F2} | {r.Sink / r.Grpc:F2} | {r.CoordinatorCpu:F2} / {r.SinkCpu:F2} / {r.AgentCpu:F2} |"));
        s.AppendLine();
        var agentRows = rows.Where(r => r.Chunk == AgentChunkBytes).ToList();
        double worst = agentRows.Min(r => r.Raw / r.Grpc), worstFile = agentRows.Min(r => r.RawFile / r.Grpc), ceiling = agentRows.Min(r => r.Raw / r.Sink);
        s.AppendLine(FormattableString.Invariant(
            $"Target: gRPC upload >= {TargetRatio} of the raw socket copy. At the agent's default {AgentChunkBytes >> 10} KiB messages, worst ratio {worst:F2} against the discarding copy: {(worst >= TargetRatio ? "met" : "NOT met")}; {worstFile:F2} against the copy to disk: {(worstFile >= TargetRatio ? "met" : "not met")}. gRPC alone, with nothing done to the bytes, reaches {ceiling:F2} of the raw copy."));
        s.AppendLine();
        return s.ToString();
    }

    /// <summary>
    /// Uploads, unmeasured, until both servers run steady-state code: a fresh .NET process spends its first seconds
    /// re-compiling hot methods (tiered JIT), which would otherwise land on the first measured configuration.
    /// </summary>
    static async Task WarmUpAsync(CoordinatorChild coordinator, SinkChild sink)
    {
        const int Uploads = 4;
        var payload = Payload(layers: 8);
        Log($"warm-up: {Uploads} uploads per message size to each server");
        foreach (int chunk in ChunkSizes)
        {
            var agents = await coordinator.StartedFederationAsync(Uploads + 1, layers: 8);
            for (int i = 0; i < Uploads; i++)
            {
                Stamp(payload, 1000 + i + chunk);
                string sha = Convert.ToHexStringLower(SHA256.HashData(payload));
                var response = await agents[i].UploadAsync(payload, sha, $"warm-{i}", chunk);
                if (response.Status != "ACCEPTED") throw new InvalidOperationException($"warm-up upload {i}: {response.Status}");
                await UploadOverAsync(sink.Channel, [], agents[i].Assignment, payload, sha, $"warm-{i}", chunk);
            }
        }
    }

    static async Task<string> MemoryAsync()
    {
        var payload = Payload(layers: 8);
        Log($"memory: {ConcurrentAgents} agents x {payload.Length:N0} bytes");
        var variants = Enumerable.Range(0, ConcurrentAgents + 1).Select(i =>
        {
            var copy = (byte[])payload.Clone();
            Stamp(copy, 100 + i);
            return (Bytes: copy, Sha: Convert.ToHexStringLower(SHA256.HashData(copy)));
        }).ToArray();

        await using var coordinator = await CoordinatorChild.StartAsync();
        var agents = await coordinator.StartedFederationAsync(ConcurrentAgents + 2, layers: 8);
        long started = coordinator.Rss;
        // One upload first: JIT, gRPC and Kestrel pools, thread pool growth are not what the 20 uploads cost.
        var warm = await agents[ConcurrentAgents].UploadAsync(variants[ConcurrentAgents].Bytes, variants[ConcurrentAgents].Sha, "warm-up");
        if (warm.Status != "ACCEPTED") throw new InvalidOperationException($"warm-up upload: {warm.Status}");
        await Task.Delay(1000);
        long baseline = coordinator.Rss, hwmBefore = coordinator.Hwm;

        var samples = new List<(double Seconds, long Rss)>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                samples.Add((clock.Elapsed.TotalSeconds, coordinator.Rss));
                try { await Task.Delay(100, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        var responses = await Task.WhenAll(Enumerable.Range(0, ConcurrentAgents).Select(i => agents[i].UploadAsync(variants[i].Bytes, variants[i].Sha, $"mem-{i}")));
        double seconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(300);
        stop.Cancel();
        await sampler;
        if (responses.FirstOrDefault(r => r.Status != "ACCEPTED") is { } refused) throw new InvalidOperationException($"concurrent upload: {refused.Status}");
        long peak = samples.Max(x => x.Rss), hwm = coordinator.Hwm, after = coordinator.Rss;
        long through = (long)payload.Length * ConcurrentAgents;
        Log($"memory: started {Mb(started)} MB, baseline {Mb(baseline)} MB, peak {Mb(peak)} MB (VmHWM {Mb(hwm)} MB), {samples.Count} samples over {seconds:F1} s");

        var s = new StringBuilder();
        s.AppendLine(FormattableString.Invariant(
            $"Coordinator memory while {ConcurrentAgents} agents upload a {payload.Length / 1e6:F0} MB payload each at once ({through / 1e9:F2} GB in all, {seconds:F1} s until the last ACCEPTED, {through / 1e6 / seconds:F0} MB/s aggregate); VmRSS of the coordinator process sampled every 100 ms ({samples.Count} samples). Baseline = after start, 22 enrollments and one warm-up upload of the same size."));
        s.AppendLine();
        s.AppendLine("| RSS after start | baseline | peak (sampled) | VmHWM before / after | after the uploads | peak - baseline | per upload | payload through |");
        s.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        s.AppendLine(FormattableString.Invariant(
            $"| {Mb(started)} MB | {Mb(baseline)} MB | {Mb(peak)} MB | {Mb(hwmBefore)} / {Mb(hwm)} MB | {Mb(after)} MB | {Mb(peak - baseline)} MB | {Mb((peak - baseline) / ConcurrentAgents)} MB | {Mb(through)} MB |"));
        s.AppendLine();
        s.AppendLine("RSS over time (s: MB): " + string.Join(", ", samples.Where((_, i) => i % 5 == 0).Select(x => FormattableString.Invariant($"{x.Seconds:F1}: {Mb(x.Rss)}"))));
        s.AppendLine();
        bool flat = peak - baseline < through / 10;
        s.AppendLine(FormattableString.Invariant(
            $"Flat: growth {Mb(peak - baseline)} MB = {(double)(peak - baseline) / through:P1} of the payload that went through: {(flat ? "met" : "NOT met")} (bound: buffers, not payload size; here < 10% of it)."));
        s.AppendLine();
        return s.ToString();
    }

    /// <summary>An AdapterPayload of rank-<see cref="Rank"/> factors on q/k/v/o_proj: 2 MiB per module, 8 MiB per layer.</summary>
    static byte[] Payload(int layers)
    {
        using var adapter = RandomAdapters.Create(ModuleShape.LlamaFamily(Hidden, layers, Targets), Rank, alpha: 2 * Rank, seed: layers, baseModel: BaseModel);
        return AdapterPayload.ToBytes(adapter);
    }

    /// <summary>Makes the payload's bytes unique by overwriting its last float: still the same valid adapter structure.</summary>
    static void Stamp(byte[] payload, int i) => BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(payload.Length - 4), 0x3c000000 + i);

    /// <summary>Seconds to push <paramref name="payload"/> through a loopback socket to a reader that discards it or writes it to <paramref name="file"/> and fsyncs.</summary>
    static async Task<double> RawCopyAsync(byte[] payload, string? file)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var receiver = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await using var output = file is null ? null : new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
            var buffer = new byte[ChunkBytes];
            long total = 0;
            int read;
            while (total < payload.Length && (read = await socket.ReceiveAsync(buffer)) > 0)
            {
                total += read;
                if (output is not null) await output.WriteAsync(buffer.AsMemory(0, read));
            }
            output?.Flush(flushToDisk: true);
            await socket.SendAsync(new byte[1]);
        });
        var clock = Stopwatch.StartNew();
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
            var stream = client.GetStream();
            for (int at = 0; at < payload.Length; at += ChunkBytes)
                await stream.WriteAsync(payload.AsMemory(at, Math.Min(ChunkBytes, payload.Length - at)));
            await stream.ReadExactlyAsync(new byte[1]);
        }
        clock.Stop();
        await receiver;
        if (file is not null) File.Delete(file);
        return clock.Elapsed.TotalSeconds;
    }

    sealed class Agent(GrpcChannel channel, Metadata auth, TrainingTask task)
    {
        public TrainingTask Assignment => task;
        public Task<UploadUpdateResponse> UploadAsync(byte[] bytes, string sha, string uploadId, int chunkBytes = AgentChunkBytes) =>
            UploadOverAsync(channel, auth, task, bytes, sha, uploadId, chunkBytes);
    }

    /// <summary>A header, then data messages of <paramref name="chunkBytes"/> wrapping the payload (no copy), until the response.</summary>
    static async Task<UploadUpdateResponse> UploadOverAsync(GrpcChannel channel, Metadata auth, TrainingTask task, byte[] bytes, string sha, string uploadId, int chunkBytes)
    {
        var client = new AgentService.AgentServiceClient(channel);
        using var call = client.UploadUpdate(auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = uploadId, FederationId = task.FederationId, Round = task.Round, Sha256 = sha, Size = bytes.Length,
                Offset = 0, ExampleCount = 10, Rank = task.Rank,
            },
        });
        for (int at = 0; at < bytes.Length; at += chunkBytes)
            await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = UnsafeByteOperations.UnsafeWrap(bytes.AsMemory(at, Math.Min(chunkBytes, bytes.Length - at))) });
        await call.RequestStream.CompleteAsync();
        return await call;
    }

    /// <summary>This benchmark run as <c>upload-sink</c> (<see cref="UploadSink"/>) on a free loopback port; storing into <c>redis</c> when given.</summary>
    internal sealed class SinkChild : IAsyncDisposable
    {
        readonly Process _process;
        public GrpcChannel Channel { get; }
        public Uri Address { get; }
        public int Pid => _process.Id;

        SinkChild(Process process, Uri address) => (_process, Address, Channel) = (process, address, GrpcChannel.ForAddress(address));

        public double CpuSeconds => CpuSecondsOf(_process);

        /// <param name="redis">The storing mode's Redis; it then runs as the coordinator does (server GC, no dynamic PGO, its large-object threshold).</param>
        public static async Task<SinkChild> StartAsync(string? redis = null)
        {
            int port = FreePort();
            var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Federated.Benchmarks.dll"), "upload-sink",
                port.ToString(CultureInfo.InvariantCulture), .. redis is null ? Array.Empty<string>() : [redis]])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            if (redis is not null) Coordinator.CoordinatorRuntime.Apply(start);
            var process = Process.Start(start)!;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                if (process.HasExited) throw new InvalidOperationException($"the upload sink exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
            }
            return new SinkChild(process, new Uri($"http://127.0.0.1:{port}"));
        }

        public async ValueTask DisposeAsync()
        {
            Channel.Dispose();
            _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }

    /// <summary>The built coordinator (copied beside the benchmark) as a child process on free loopback ports.</summary>
    sealed class CoordinatorChild : IAsyncDisposable
    {
        readonly Process _process;
        readonly string _data;
        readonly Uri _http, _grpc;
        readonly HttpClient _client;
        readonly List<GrpcChannel> _channels = [];
        readonly StringBuilder _output = new();

        CoordinatorChild(Process process, string data, Uri http, Uri grpc)
        {
            (_process, _data, _http, _grpc) = (process, data, http, grpc);
            _client = TestOperators.Client(http);
        }

        public long Rss => ProcessMemory.Read($"/proc/{_process.Id}/status", "VmRSS:");
        public double CpuSeconds => CpuSecondsOf(_process);
        public long Hwm => ProcessMemory.Read($"/proc/{_process.Id}/status", "VmHWM:");

        public static async Task<CoordinatorChild> StartAsync()
        {
            string data = Directory.CreateTempSubdirectory("fed-upload-bench-").FullName;
            int http = FreePort(), grpc = FreePort();
            var psi = new ProcessStartInfo("dotnet",
            [
                Path.Combine(AppContext.BaseDirectory, "Federated.Coordinator.dll"),
                "--Coordinator:InMemoryState=true", $"--Coordinator:DataDirectory={data}",
                $"--Coordinator:SiloPort={FreePort()}", $"--Coordinator:GatewayPort={FreePort()}",
                $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{http}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{grpc}",
                $"--Coordinator:EnrollmentTokens:*:0={Token}", "--Serilog:MinimumLevel:Default=Warning",
                .. TestOperators.Args,
            ])
            {
                WorkingDirectory = AppContext.BaseDirectory, // the content root, with appsettings.json
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var process = Process.Start(psi)!;
            var child = new CoordinatorChild(process, data, new Uri($"http://127.0.0.1:{http}"), new Uri($"http://127.0.0.1:{grpc}"));
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (child._output) child._output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child._output) child._output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                if (process.HasExited) throw new InvalidOperationException($"the coordinator exited with {process.ExitCode}:\n{child._output}");
                try
                {
                    if ((await child._client.GetAsync("/readyz")).IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) { }
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the coordinator did not become ready:\n{child._output}");
                await Task.Delay(200);
            }
            Log($"coordinator pid {process.Id} ready, RSS {Mb(child.Rss)} MB");
            return child;
        }

        /// <summary>A started federation (through the admin API) whose <paramref name="agents"/> enrolled agents are all in round 1, each with its own channel.</summary>
        /// <param name="layers">Of the base model the payloads' shapes come from (<see cref="Payload"/>): its manifest.</param>
        public async Task<List<Agent>> StartedFederationAsync(int agents, int layers)
        {
            string id = $"upload-bench-{Guid.NewGuid():N}"[..24];
            var created = await _client.PostAsJsonAsync("/api/federations", new
            {
                id,
                config = new
                {
                    baseModel = BaseModel, targetModules = Targets, rankPolicy = new { cpuRank = Rank, tiers = Array.Empty<object>() },
                    rounds = 1, clientsPerRound = agents, quorum = agents, roundDeadline = "04:00:00", clientTimeout = "04:00:00",
                    architecture = new { hiddenSize = Hidden, numHiddenLayers = layers, numAttentionHeads = 32, numKeyValueHeads = 32, intermediateSize = 11008 },
                },
            });
            if (!created.IsSuccessStatusCode) throw new InvalidOperationException($"create federation: {created.StatusCode} {await created.Content.ReadAsStringAsync()}");
            var enrolled = new List<(GrpcChannel Channel, Metadata Auth)>();
            for (int i = 0; i < agents; i++)
            {
                var channel = GrpcChannel.ForAddress(_grpc);
                _channels.Add(channel);
                var response = await new AgentService.AgentServiceClient(channel).RegisterAsync(new RegisterRequest
                {
                    FederationId = id, EnrollmentToken = Token, Device = new DeviceInfo { Device = "cpu" },
                });
                enrolled.Add((channel, new Metadata { { "authorization", "Bearer " + response.ClientCredential } }));
            }
            var started = await _client.PostAsync($"/api/federations/{id}/start", null);
            if (!started.IsSuccessStatusCode) throw new InvalidOperationException($"start federation: {started.StatusCode} {await started.Content.ReadAsStringAsync()}");
            var result = new List<Agent>();
            foreach (var (channel, auth) in enrolled)
            {
                GetTaskResponse task;
                while ((task = await new AgentService.AgentServiceClient(channel).GetTaskAsync(new GetTaskRequest(), auth)).OutcomeCase != GetTaskResponse.OutcomeOneofCase.Task)
                    await Task.Delay(100);
                if (task.Task.Rank != Rank) throw new InvalidOperationException($"assigned rank {task.Task.Rank}, expected {Rank}");
                result.Add(new Agent(channel, auth, task.Task));
            }
            return result;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var channel in _channels) channel.Dispose();
            _client.Dispose();
            if (!_process.HasExited)
            {
                using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
                    await kill.WaitForExitAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try { await _process.WaitForExitAsync(timeout.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
            }
            _process.Dispose();
            Directory.Delete(_data, recursive: true);
        }
    }

    static int FreePort() => FreePorts.Loopback();

    static double CpuSecondsOf(Process process)
    {
        process.Refresh();
        return process.TotalProcessorTime.TotalSeconds;
    }

    static double SelfCpuSeconds => CpuSecondsOf(Process.GetCurrentProcess());

    static string Rate(long bytes, double seconds) => FormattableString.Invariant($"{bytes / 1e6 / seconds:N0} MB/s ({seconds:F2} s)");
    static string Mb(long bytes) => (bytes / 1048576.0).ToString("N0", CultureInfo.InvariantCulture);
    static void Log(string message) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
