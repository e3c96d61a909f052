using System.Diagnostics;
using System.Globalization;
using System.Text;
using Federated.Benchmarks.Coordinator;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Export;
using Federated.Core.Formats.Peft;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Export;

/// <summary>
/// Exporting a federation's whole history as one adapter: a Qwen2-0.5B-shaped history (hidden 896, 24 layers, q_proj
/// 896x896 and v_proj 128x896) of 10 rounds, each the FLoRA stack of 10 clients at rank 16 (rank 160 a round; v_proj, 128
/// wide, is written at rank 128 since the bound of ALGORITHMS.md A8), exported
/// (a) exactly to a payload file and (b) truncated to rank 64 (also to a payload file), against (c) a plain memory copy
/// of the same history bytes. The history is written once as PEFT directories; each mode runs in its own process, which
/// reads it (straight into native tensors), resets its peak resident set (/proc/self/clear_refs) and runs the operation
/// a few times after a warm-up (the minute-long truncation once): wall time is the median, peak the process's VmHWM over those runs (libtorch memory is native, so the
/// resident set, not the GC heap, is what counts), "added" the peak minus the resident set before the runs.
/// Run: deploy/benchmark.sh export   (or: export-worker MODE HISTORY-DIR for one mode)
/// </summary>
static class ExportBenchmark
{
    const int Hidden = 896, Layers = 24, KvDim = 128, Rounds = 10, Clients = 10, ClientRank = 16, TruncatedRank = 64, Repetitions = 3;
    static readonly (string Mode, string Label)[] Modes =
    [
        ("copy", "memory copy of the history (baseline)"),
        ("exact", "exact export to a payload file"),
        ("truncated", $"truncated export at rank {TruncatedRank} to a payload file"),
    ];

    public static int Run()
    {
        string history = Directory.CreateTempSubdirectory("fed-export-history-").FullName;
        try
        {
            var build = Stopwatch.StartNew();
            long historyBytes = WriteHistory(history);
            Console.WriteLine(FormattableString.Invariant(
                $"history: {Rounds} rounds x {Clients} clients x rank {ClientRank} on q/v of {Layers} layers, {historyBytes / 1e6:F1} MB fp32 (built in {build.Elapsed.TotalSeconds:F1} s)"));
            var results = Modes.Select(m => (m.Mode, m.Label, Result: Measure(m.Mode, history))).ToList();
            var copy = results[0].Result;
            var report = new StringBuilder()
                .Append(FormattableString.Invariant($"History: {Rounds} rounds, each the FLoRA stack of {Clients} clients at rank {ClientRank} (rank {Clients * ClientRank} a round), "))
                .AppendLine(FormattableString.Invariant($"q_proj and v_proj of {Layers} layers (Qwen2-0.5B: 896x896 and 128x896): {historyBytes / 1e6:F1} MB fp32 of factors."))
                .AppendLine("Each mode in its own process: the history read from PEFT directories, the peak resident set reset, the operation run " +
                    $"{Repetitions} times after a warm-up (the truncation, a minute long, once without); time = median wall time, peak = VmHWM over the runs, added = peak minus the resident set before them, " +
                    "ratios against the memory copy; output: the exported payload and, truncated, its largest per-module relative error.")
                .AppendLine()
                .AppendLine("| mode | time | vs copy | peak RSS MB | added MB | added vs copy | output |")
                .AppendLine("|---|---:|---:|---:|---:|---:|---|");
            foreach (var (_, label, r) in results)
                report.AppendLine(FormattableString.Invariant(
                    $"| {label} | {r.Milliseconds:F0} ms | {r.Milliseconds / copy.Milliseconds:F1} | {r.PeakMb:F0} | {r.AddedMb:F0} | {r.AddedMb / copy.AddedMb:F2} | {r.Note} |"));
            Console.Write(report);
            ResultsFile.Append("Exporting a federation's history (`deploy/benchmark.sh export`)", "TorchSharp 0.107", report.ToString());
            return 0;
        }
        finally
        {
            Directory.Delete(history, recursive: true);
        }
    }

    /// <summary>Writes round-NN PEFT directories, each one round's FLoRA stack; returns the history's factor bytes.</summary>
    static long WriteHistory(string directory)
    {
        var shapes = ModuleShape.LlamaFamily(Hidden, Layers, ["q_proj", "v_proj"], KvDim);
        var weights = Enumerable.Repeat(1.0 / Clients, Clients).ToArray();
        long bytes = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var clients = Enumerable.Range(0, Clients)
                .Select(k => RandomAdapters.Create(shapes, ClientRank, alpha: 2 * ClientRank, seed: round * 100 + k, baseModel: "Qwen/Qwen2-0.5B")).ToList();
            using var stack = new FloraStacking().Aggregate(clients, weights);
            foreach (var c in clients) c.Dispose();
            PeftAdapterDirectory.Write(stack, Path.Combine(directory, $"round-{round:D2}"));
            bytes += stack.ParameterCount * sizeof(float);
        }
        return bytes;
    }

    sealed record Result(double Milliseconds, double PeakMb, double AddedMb, string Note);

    static Result Measure(string mode, string history)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!, [typeof(ExportBenchmark).Assembly.Location, "export-worker", mode, history])
        {
            RedirectStandardOutput = true,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) != "dotnet") psi.ArgumentList.RemoveAt(0);
        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        var parts = output.Split(' ', 4);
        if (process.ExitCode != 0 || parts.Length != 4) throw new InvalidOperationException($"worker {mode} failed: {output}");
        double Number(int i) => double.Parse(parts[i], CultureInfo.InvariantCulture);
        return new Result(Number(0), Number(1), Number(2), parts[3]);
    }

    /// <summary>One mode alone in this process: prints "median-ms peak-MB added-MB note".</summary>
    public static int Worker(string mode, string history)
    {
        set_num_threads(Environment.ProcessorCount);
        var deltas = Directory.GetDirectories(history).Order(StringComparer.Ordinal).Select(PeftAdapterDirectory.Read).ToList();
        string output = Path.Combine(history, $"export-{mode}.safetensors");
        string note = "";
        Action operation = mode switch
        {
            "copy" => () =>
            {
                // The same bytes into one fresh native buffer: what any export must at least read and write.
                var factors = deltas.SelectMany(d => d.Modules).SelectMany(m => new[] { m.A, m.B }).ToList();
                using var copy = empty(factors.Sum(t => t.numel()), float32);
                var to = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(copy.bytes);
                long offset = 0;
                foreach (var t in factors)
                {
                    var from = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes);
                    from.CopyTo(to.Slice((int)offset, from.Length));
                    offset += from.Length;
                }
                note = FormattableString.Invariant($"{offset * 4 / 1e6:F1} MB copied");
            },
            "exact" => () =>
            {
                using var export = CumulativeExport.Exact(deltas);
                Write(output, export, CumulativeExport.ExactReport(deltas));
                note = FormattableString.Invariant($"rank {export.Modules[0].Rank}, payload {new FileInfo(output).Length / 1e6:F1} MB");
            },
            "truncated" => () =>
            {
                var (export, report) = CumulativeExport.Truncated(deltas, TruncatedRank);
                using (export) Write(output, export, report);
                note = FormattableString.Invariant(
                    $"rank {TruncatedRank}, payload {new FileInfo(output).Length / 1e6:F1} MB, max relative error {report.MaxRelativeError:F3} ({report.Modules[0].Method} SVD)");
            },
            _ => throw new ArgumentException($"unknown mode '{mode}' (expected copy, exact or truncated)"),
        };
        // A warm-up takes first-call costs (JIT, libtorch's thread pool) out of the timings; the truncation's minute dwarfs them.
        int repetitions = mode == "truncated" ? 1 : Repetitions;
        if (repetitions > 1) operation();
        GC.Collect();
        long before = ProcessMemory.WorkingSet;
        ResetPeak();
        var times = new List<double>();
        for (int i = 0; i < repetitions; i++)
        {
            var clock = Stopwatch.StartNew();
            operation();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        long peak = ProcessMemory.PeakWorkingSet;
        foreach (var d in deltas) d.Dispose();
        Console.WriteLine(FormattableString.Invariant($"{Statistics.Median(times):F1} {peak / 1048576.0:F1} {(peak - before) / 1048576.0:F1} {note}"));
        return 0;
    }

    static void Write(string path, LoraAdapter adapter, ExportReport report)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        ExportFiles.WritePayload(file, adapter, report);
    }

    /// <summary>Linux: writing 5 to clear_refs resets VmHWM to the current resident set, so the peak is the operation's.</summary>
    static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");
}
