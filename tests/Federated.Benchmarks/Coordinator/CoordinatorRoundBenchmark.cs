using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Federated.Contracts;
using Federated.Coordinator.Hosting;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Grains;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;
using Federated.Testing;

namespace Federated.Benchmarks.Coordinator;

/// <summary>
/// Coordinator overhead per round at scale: 10,000 registered clients, 1,000 selected per round, tiny updates
/// (one 8 x 8 q_proj module at rank 1, FedIT), on a real in-process silo wired by <c>AddFederatedCoordinator</c>,
/// embedded (in-memory grain state, directory update store) and cluster mode (a real redis-server). Each mode
/// runs in its own process (with server GC, as the coordinator host), so peak working sets do not mix.
/// Round 1 warms up; rounds 2-6 submit pre-uploaded payloads (grain overhead); rounds 7-11 upload each payload
/// to the store inside the round, then submit (with uploads).
/// Run: deploy/benchmark.sh coordinator [embedded|redis]   (or: coordinator-worker MODE RESULT.json for one mode)
/// </summary>
static class CoordinatorRoundBenchmark
{
    const int Clients = 10_000, ClientsPerRound = 1_000, Quorum = 900, RegistrationConcurrency = 256;
    const int WarmupRounds = 1, MeasuredRounds = 5;
    const int TotalRounds = WarmupRounds + 2 * MeasuredRounds;
    const double TargetSeconds = 2, TargetBytes = 1L << 30;
    static readonly ModuleShape[] Shapes = [new("model.layers.0.self_attn.q_proj", 8, 8)];
    /// <summary>One layer of width 8: its q_proj is <see cref="Shapes"/>.</summary>
    static readonly ModelArchitecture Architecture = new(8, 1, 2, 2, 16);
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static int Run(string[] modes)
    {
        if (modes.Length == 0) modes = ["embedded", "redis"];
        if (modes.Except(["embedded", "redis"]).Any()) throw new ArgumentException($"modes are embedded and redis, not {string.Join(", ", modes)}");
        var results = new List<ModeResult>();
        foreach (var mode in modes)
        {
            string file = Path.Combine(Path.GetTempPath(), $"fed-coordinator-bench-{mode}-{Guid.NewGuid():N}.json");
            var psi = new ProcessStartInfo(Environment.ProcessPath!, [typeof(CoordinatorRoundBenchmark).Assembly.Location, "coordinator-worker", mode, file]);
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) != "dotnet") psi.ArgumentList.RemoveAt(0);
            psi.Environment["DOTNET_gcServer"] = "1"; // as the coordinator host (ServerGarbageCollection)
            Console.WriteLine($"== {mode}: starting worker");
            using (var process = Process.Start(psi)!)
            {
                process.WaitForExit();
                if (process.ExitCode != 0) throw new InvalidOperationException($"the {mode} worker failed (exit code {process.ExitCode})");
            }
            results.Add(JsonSerializer.Deserialize<ModeResult>(File.ReadAllText(file))!);
            File.Delete(file);
        }
        string report = Report(results);
        Console.WriteLine();
        Console.WriteLine(report);
        ResultsFile.Append("Coordinator rounds (`deploy/benchmark.sh coordinator`)", "Orleans 10.4.2", report);
        return 0;
    }

    /// <summary>One mode, in this process: writes a <see cref="ModeResult"/> to <paramref name="resultFile"/>.</summary>
    public static async Task<int> WorkerAsync(string mode, string resultFile)
    {
        var result = new ModeResult { Mode = mode, GcMode = GCSettings.IsServerGC ? "server" : "workstation" };
        Log($"{mode}: generating {TotalRounds} x {ClientsPerRound} payloads");
        var payloads = Enumerable.Range(1, TotalRounds).Select(round => Enumerable.Range(0, ClientsPerRound).Select(i =>
        {
            using var adapter = RandomAdapters.Create(Shapes, rank: 1, alpha: 2, seed: round * 1_000_003L + i, baseModel: "bench-model");
            return AdapterPayload.ToBytes(adapter);
        }).ToArray()).ToArray();
        result.PayloadBytes = payloads[0][0].Length;

        RedisServer? redis = null;
        string? directory = null;
        CoordinatorOptions options;
        if (mode == "redis")
        {
            redis = new RedisServer();
            await redis.InitializeAsync();
            options = new CoordinatorOptions { Mode = CoordinatorMode.Cluster, Redis = redis.Configuration };
        }
        else
        {
            directory = Path.Combine(Path.GetTempPath(), "fed-coordinator-bench-" + Guid.NewGuid().ToString("N"));
            options = new CoordinatorOptions { Mode = CoordinatorMode.Embedded, DataDirectory = directory };
        }

        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.InitializeClientOnDeploy = false; // the coordinator process is a silo, calling its grains directly
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddFederatedCoordinator(options, clustering: false);
            silo.Services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        });
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();
            var services = cluster.Silos[0].ServiceProvider;
            var grains = services.GetRequiredService<IGrainFactory>();
            var store = services.GetRequiredService<IContentStore>();
            result.AfterStart = Memory.Now();

            string fed = "bench-" + mode;
            var config = FederationConfig.Default("bench-model", Architecture) with
            {
                TargetModules = ["q_proj"],
                RankPolicy = RankPolicy.Fixed(1),
                Aggregation = new AggregationSettings("fedit"),
                Rounds = TotalRounds,
                ClientsPerRound = ClientsPerRound,
                Quorum = Quorum,
                RoundDeadline = TimeSpan.FromMinutes(30),
                ClientTimeout = TimeSpan.FromHours(2),
                Seed = 1,
            };
            await grains.GetGrain<IFederationGrain>(fed).CreateAsync(config);

            Log($"{mode}: registering {Clients:N0} clients ({RegistrationConcurrency} concurrent)");
            var clock = Stopwatch.StartNew();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            for (int half = 0; half < 2; half++) // halves: does a registration get dearer as the roster grows?
            {
                var halfClock = Stopwatch.StartNew();
                await Parallel.ForEachAsync(Enumerable.Range(half * Clients / 2, Clients / 2), new ParallelOptions { MaxDegreeOfParallelism = RegistrationConcurrency },
                    async (i, _) => await grains.GetGrain<IClientGrain>($"{fed}-client-{i:D5}").RegisterAsync(fed, ClientCapabilities.Cpu));
                result.RegistrationHalvesMs.Add(halfClock.Elapsed.TotalMilliseconds);
            }
            result.RegistrationMs = clock.Elapsed.TotalMilliseconds;
            result.RegistrationCpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
            result.AfterRegistration = Memory.Now();
            Log($"{mode}: registered in {result.RegistrationMs / 1000:F1} s; managed {Mb(result.AfterRegistration.ManagedAfterGc)} MB, peak WS {Mb(result.AfterRegistration.PeakWorkingSet)} MB");

            // Payloads of the warm-up and grain-overhead rounds go into the store before any round is timed.
            var references = new StoredUpdate[TotalRounds + 1][];
            for (int round = 1; round <= WarmupRounds + MeasuredRounds; round++)
            {
                clock.Restart();
                var refs = await Task.WhenAll(payloads[round - 1].Select(p => store.PutAsync(new MemoryStream(p, writable: false))));
                references[round] = refs.Select(r => r).ToArray();
                result.PreUploadBatchMs.Add(clock.Elapsed.TotalMilliseconds);
            }
            Log($"{mode}: pre-uploaded {WarmupRounds + MeasuredRounds} x {ClientsPerRound} payloads, median batch {Statistics.Median(result.PreUploadBatchMs):F0} ms");

            DateTime previousClose = DateTime.UtcNow;
            await grains.GetGrain<IFederationGrain>(fed).StartAsync();
            for (int r = 1; r <= TotalRounds; r++)
            {
                var sample = await RunRoundAsync(grains, store, fed, r, references[r], payloads[r - 1], previousClose);
                sample.Kind = r <= WarmupRounds ? "warm-up" : r <= WarmupRounds + MeasuredRounds ? "grain" : "uploads";
                result.Rounds.Add(sample);
                previousClose = sample.ClosedAt;
                Log($"{mode}: round {r,2} ({sample.Kind,-7}) cpu {sample.CpuMs,6:F0} ms, wall {sample.WallMs,7:F0} ms, aggregation {sample.AggregationMs,6:F0} ms, overhead {sample.OverheadMs,6:F0} ms, cycle overhead {sample.CycleOverheadMs,6:F0} ms" +
                    $" | open {sample.OpenWaitMs:F0}, assignments {sample.AssignmentsMs:F0}, submissions {sample.SubmissionsMs:F0}, close wait {sample.CloseWaitMs:F0} ms");
            }
            payloads = null!;
            references = null!;
            result.AfterRounds = Memory.Now();
            if (redis is not null)
            {
                result.RedisUsedMemoryPeak = await redis.MemoryInfoAsync("used_memory_peak");
                result.RedisPeakWorkingSet = ProcessMemory.Read($"/proc/{redis.ProcessId}/status", "VmHWM:"); // redis-server's own peak resident set
            }
            Log($"{mode}: after rounds managed {Mb(result.AfterRounds.ManagedAfterGc)} MB, peak WS {Mb(result.AfterRounds.PeakWorkingSet)} MB");
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
            if (redis is not null) await redis.DisposeAsync();
            if (directory is not null && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        File.WriteAllText(resultFile, JsonSerializer.Serialize(result, Json));
        return 0;
    }

    /// <summary>
    /// One round as 1,000 agents would drive it: wait for it to open, fetch assignments, submit (uploading first
    /// when <paramref name="references"/> is null), wait for it to close. Times come from the round's own clock.
    /// </summary>
    static async Task<RoundSample> RunRoundAsync(IGrainFactory grains, IContentStore store, string fed, int r,
        StoredUpdate[]? references, byte[][] payloads, DateTime previousClose)
    {
        var round = grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, r));
        var sample = new RoundSample { Round = r };
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        RoundView view;
        while (true)
        {
            try
            {
                view = await round.GetAsync();
                break;
            }
            catch (FederationException e) when (e.Error == FederationError.NotFound)
            {
                await Task.Delay(2);
            }
        }
        if (view.Status != RoundStatus.Open) throw new InvalidOperationException($"round {r} is {view.Status}: {view.FailureReason}");
        sample.OpenWaitMs = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        var assignments = await Task.WhenAll(view.Selected.Select(c => round.GetAssignmentAsync(c)));
        sample.AssignmentsMs = clock.Elapsed.TotalMilliseconds;
        if (assignments.Any(a => a is null)) throw new InvalidOperationException($"round {r}: a selected client got no assignment");

        clock.Restart();
        var receipts = await Task.WhenAll(view.Selected.Select(async (client, i) =>
        {
            var update = references?[i] ?? (await store.PutAsync(new MemoryStream(payloads[i], writable: false)));
            return await round.SubmitAsync(client, new Submission(update, 10, assignments[i]!.Rank));
        }));
        sample.SubmissionsMs = clock.Elapsed.TotalMilliseconds;
        if (receipts.FirstOrDefault(x => !x.IsAccepted) is { } refused) throw new InvalidOperationException($"round {r}: {refused.Status}: {refused.Reason}");

        clock.Restart();
        while (true)
        {
            view = await round.GetAsync();
            if (view.Status is RoundStatus.Closed or RoundStatus.Failed) break;
            await Task.Delay(2);
        }
        sample.CloseWaitMs = clock.Elapsed.TotalMilliseconds;
        if (view.Status != RoundStatus.Closed) throw new InvalidOperationException($"round {r} failed: {view.FailureReason}");

        sample.OpenedAt = view.OpenedAt;
        sample.ClosedAt = view.ClosedAt!.Value;
        sample.WallMs = (view.ClosedAt.Value - view.OpenedAt).TotalMilliseconds;
        sample.CycleMs = (view.ClosedAt.Value - previousClose).TotalMilliseconds;
        sample.AggregationMs = view.AggregationTime?.TotalMilliseconds ?? 0;
        sample.Accepted = view.Outcomes.Count(o => o.Accepted);
        sample.CpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
        return sample;
    }

    static string Report(List<ModeResult> results)
    {
        var s = new StringBuilder();
        s.AppendLine(FormattableString.Invariant($"{Clients:N0} registered clients, {ClientsPerRound:N0} selected per round (quorum {Quorum}, all submit), FedIT over one 8 x 8 q_proj module at rank 1 ({results[0].PayloadBytes} B payloads); {WarmupRounds} warm-up round, then {MeasuredRounds} rounds with pre-uploaded payloads (grain overhead) and {MeasuredRounds} rounds whose 1,000 agents each upload then submit (with uploads). One in-process silo (`AddFederatedCoordinator(options, clustering: false)`), driven through the silo's own grain factory; server GC."));
        s.AppendLine();
        s.AppendLine("Round wall = the round's OpenedAt to ClosedAt; cycle = previous round's ClosedAt to this one's (adds reporting outcomes to the roster, the federation's record and the next round's opening); overhead = time - RoundView.AggregationTime (loading the 1,000 payloads, FedIT, storing the global).");
        s.AppendLine();
        s.AppendLine("| mode | rounds | wall median / max | aggregation median | overhead median / max | cycle overhead median / max |");
        s.AppendLine("|---|---|---:|---:|---:|---:|");
        foreach (var m in results)
            foreach (var kind in Kinds)
            {
                var rs = m.Rounds.Where(x => x.Kind == kind).ToList();
                string wall = MedianMax(rs.Select(x => x.WallMs)), aggregation = Ms(Statistics.Median(rs.Select(x => x.AggregationMs)));
                string overhead = MedianMax(rs.Select(x => x.OverheadMs)), cycle = MedianMax(rs.Select(x => x.CycleOverheadMs));
                s.AppendLine($"| {m.Mode} | {Label(kind)} | {wall} | {aggregation} | {overhead} | {cycle} |");
            }
        s.AppendLine();
        s.AppendLine("Driver-side phases (medians over the measured rounds): waiting for the round to open, 1,000 concurrent GetAssignment, 1,000 concurrent Submit (with uploads: PutAsync then Submit), last receipt to Closed; CPU time of the whole process (silo and driver) over the round, 2 cores = 2 s per s.");
        s.AppendLine();
        s.AppendLine("| mode | rounds | open wait | assignments | submissions | close wait | process CPU per round | store puts, 1,000 concurrent (pre-upload) |");
        s.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var m in results)
            foreach (var kind in Kinds)
            {
                var rs = m.Rounds.Where(x => x.Kind == kind).ToList();
                string open = Ms(Statistics.Median(rs.Select(x => x.OpenWaitMs))), assignments = Ms(Statistics.Median(rs.Select(x => x.AssignmentsMs)));
                string submissions = Ms(Statistics.Median(rs.Select(x => x.SubmissionsMs))), close = Ms(Statistics.Median(rs.Select(x => x.CloseWaitMs)));
                string puts = kind == "grain" ? Ms(Statistics.Median(m.PreUploadBatchMs)) : "";
                string cpu = Ms(Statistics.Median(rs.Select(x => x.CpuMs)));
                s.AppendLine($"| {m.Mode} | {Label(kind)} | {open} | {assignments} | {submissions} | {close} | {cpu} | {puts} |");
            }
        s.AppendLine();
        s.AppendLine("| mode | registration of 10,000 (first / second 5,000; process CPU) | peak working set after registration / after rounds | working set after rounds | managed heap after GC: started / registered / after rounds | redis-server |");
        s.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var m in results)
            s.AppendLine(FormattableString.Invariant(
                $"| {m.Mode} | {m.RegistrationMs / 1000:F1} s, {Clients / (m.RegistrationMs / 1000):N0}/s ({m.RegistrationHalvesMs[0] / 1000:F1} / {m.RegistrationHalvesMs[1] / 1000:F1} s; CPU {m.RegistrationCpuMs / 1000:F1} s) | {Mb(m.AfterRegistration.PeakWorkingSet)} / {Mb(m.AfterRounds.PeakWorkingSet)} MB | {Mb(m.AfterRounds.WorkingSet)} MB | {Mb(m.AfterStart.ManagedAfterGc)} / {Mb(m.AfterRegistration.ManagedAfterGc)} / {Mb(m.AfterRounds.ManagedAfterGc)} MB | {(m.Mode == "redis" ? $"used_memory_peak {Mb(m.RedisUsedMemoryPeak)} MB, peak RSS {Mb(m.RedisPeakWorkingSet)} MB" : "-")} |"));
        s.AppendLine();
        if (results.FirstOrDefault(m => m.Mode == "embedded") is { } e)
        {
            var grain = e.Rounds.Where(x => x.Kind == "grain").ToList();
            var uploads = e.Rounds.Where(x => x.Kind == "uploads").ToList();
            double worst = grain.Max(x => Math.Max(x.OverheadMs, x.CycleOverheadMs)), worstUploads = uploads.Max(x => Math.Max(x.OverheadMs, x.CycleOverheadMs));
            s.AppendLine(FormattableString.Invariant(
                $"Target (embedded): overhead under {TargetSeconds:F0} s per round and under 1 GB of memory. Worst measured round overhead (wall or cycle): {worst / 1000:F2} s without uploads, {worstUploads / 1000:F2} s with uploads: {(worst < TargetSeconds * 1000 ? "met" : "NOT met")} ({(worstUploads < TargetSeconds * 1000 ? "met" : "not met")} with uploads). Peak working set {Mb(e.AfterRounds.PeakWorkingSet)} MB: {(e.AfterRounds.PeakWorkingSet < TargetBytes ? "met" : "NOT met")}."));
            s.AppendLine();
        }
        s.AppendLine("Per round (ms): wall / aggregation / overhead / cycle overhead");
        s.AppendLine();
        foreach (var m in results)
            s.AppendLine($"- {m.Mode}: " + string.Join("; ", m.Rounds.Select(x => FormattableString.Invariant(
                $"{x.Round}{(x.Kind == "warm-up" ? " (warm-up)" : x.Kind == "uploads" ? " (uploads)" : "")} {x.WallMs:F0}/{x.AggregationMs:F0}/{x.OverheadMs:F0}/{x.CycleOverheadMs:F0}"))));
        return s.ToString();
    }

    static readonly string[] Kinds = ["grain", "uploads"];
    static string Label(string kind) => kind == "grain" ? "grain overhead" : "with uploads";
    static string Ms(double ms) => ms.ToString("N0", CultureInfo.InvariantCulture) + " ms";
    static string MedianMax(IEnumerable<double> values)
    {
        var list = values.ToList();
        return $"{Statistics.Median(list).ToString("N0", CultureInfo.InvariantCulture)} / {Ms(list.Max())}";
    }

    static void Log(string message) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
    static string Mb(long bytes) => (bytes / 1048576.0).ToString("N0", CultureInfo.InvariantCulture);
}

sealed class ModeResult
{
    public string Mode { get; set; } = "";
    public string GcMode { get; set; } = "";
    public int PayloadBytes { get; set; }
    public double RegistrationMs { get; set; }
    public List<double> RegistrationHalvesMs { get; set; } = [];
    public double RegistrationCpuMs { get; set; }
    public List<double> PreUploadBatchMs { get; set; } = [];
    public List<RoundSample> Rounds { get; set; } = [];
    public Memory AfterStart { get; set; } = new();
    public Memory AfterRegistration { get; set; } = new();
    public Memory AfterRounds { get; set; } = new();
    public long RedisUsedMemoryPeak { get; set; }
    public long RedisPeakWorkingSet { get; set; }
}

sealed class RoundSample
{
    public int Round { get; set; }
    public string Kind { get; set; } = "";
    public DateTime OpenedAt { get; set; }
    public DateTime ClosedAt { get; set; }
    public double WallMs { get; set; }
    public double CycleMs { get; set; }
    public double AggregationMs { get; set; }
    public double OverheadMs => WallMs - AggregationMs;
    public double CycleOverheadMs => CycleMs - AggregationMs;
    public double OpenWaitMs { get; set; }
    public double AssignmentsMs { get; set; }
    public double SubmissionsMs { get; set; }
    public double CloseWaitMs { get; set; }
    public int Accepted { get; set; }
    public double CpuMs { get; set; }
}

sealed class Memory
{
    public long PeakWorkingSet { get; set; }
    public long WorkingSet { get; set; }
    public long ManagedAfterGc { get; set; }

    public static Memory Now()
    {
        long managed = ProcessMemory.ManagedAfterGc();
        return new Memory { ManagedAfterGc = managed, PeakWorkingSet = ProcessMemory.PeakWorkingSet, WorkingSet = ProcessMemory.WorkingSet };
    }
}
