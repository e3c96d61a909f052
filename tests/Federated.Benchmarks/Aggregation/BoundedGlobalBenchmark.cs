using System.Diagnostics;
using System.Globalization;
using System.Text;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Aggregation;

/// <summary>
/// How large a FLoRA round's global is, and what bounding it costs (ALGORITHMS.md A8): K = 10, 100 and 1,000 clients at
/// rank 16 on Qwen2-0.5B's q_proj (896x896) and v_proj (128x896), the plain stack of A2 (rank 16 K a module) against the
/// lossless bound (at most rank min(d_out, d_in)) and the FLoRIST energy threshold at 0.99 and 0.9. Two kinds of updates:
/// independent (random factors, a flat spectrum: the threshold's worst case) and aligned (every client's factors a shared
/// pair plus 30% noise of their own, as clients trained on similar data). Sizes are the whole model's (24 layers; every
/// layer alike, so exactly 12 times the two layers built); times are measured on the two layers, median of 3 after a
/// warm-up, and multiplied by 12. The bound's error (0 by construction) is also measured against the float64 sum of the
/// clients' deltas. Run: deploy/benchmark.sh bounded-global [--no-append]
/// </summary>
static class BoundedGlobalBenchmark
{
    const int Hidden = 896, KvDim = 128, Rank = 16, BuiltLayers = 2, ModelLayers = 24, Repetitions = 3;
    static readonly int[] ClientCounts = [10, 100, 1000];

    public static int Run(string[] options)
    {
        NativeAllocator.RetainFreedMemory();
        var shapes = ModuleShape.LlamaFamily(Hidden, BuiltLayers, ["q_proj", "v_proj"], KvDim);
        var report = new StringBuilder()
            .AppendLine(FormattableString.Invariant($"A round's global for K clients at rank {Rank} on Qwen2-0.5B q_proj (896x896) and v_proj (128x896), fp32, whole model ({ModelLayers} layers). ") +
                "Dense delta of q/v: " + FormattableString.Invariant($"{ModelLayers * (Hidden * Hidden + KvDim * Hidden) * 4 / 1e6:F1} MB. ") +
                FormattableString.Invariant($"Time: {BuiltLayers} layers measured (median of {Repetitions} after a warm-up) x {ModelLayers / BuiltLayers}; error: the largest relative Frobenius error of a module as reported, and for the bound as measured against the float64 sum of the clients' deltas."))
            .AppendLine()
            .AppendLine("| updates | K | global | rank q / v | size MB | vs dense | time | error |")
            .AppendLine("|---|---:|---|---|---:|---:|---:|---:|");
        foreach (bool aligned in new[] { false, true })
            foreach (int k in ClientCounts)
            {
                var updates = Clients(shapes, k, aligned);
                var weights = ClientWeights.FromExampleCounts(Enumerable.Range(0, k).Select(i => 100L + i % 7).ToArray());
                try
                {
                    foreach (var (label, aggregate) in Modes(updates, weights))
                    {
                        var (ms, global, error) = Measure(aggregate);
                        using (global)
                        {
                            double mb = global.ParameterCount * 4.0 * (ModelLayers / BuiltLayers) / 1e6;
                            double dense = ModelLayers * (Hidden * Hidden + KvDim * Hidden) * 4 / 1e6;
                            string ranks = Ranks(global, "q_proj") + " / " + Ranks(global, "v_proj");
                            string reported = error is { } e ? e.ToString("G3", CultureInfo.InvariantCulture) : "-";
                            if (error == 0)
                                reported += string.Create(CultureInfo.InvariantCulture, $" (measured {MeasuredError(global, updates, weights):G2})");
                            string line = FormattableString.Invariant(
                                $"| {(aligned ? "aligned" : "independent")} | {k:N0} | {label} | {ranks} | {mb:F1} | {mb / dense:F2} | {ms * (ModelLayers / BuiltLayers) / 1000:F2} s | {reported} |");
                            report.AppendLine(line);
                            Console.WriteLine(line);
                        }
                    }
                }
                finally
                {
                    foreach (var u in updates) u.Dispose();
                }
            }
        Console.Write(report);
        if (!options.Contains("--no-append"))
            ResultsFile.Append("A round's global bounded whatever K (`deploy/benchmark.sh bounded-global`)", "TorchSharp 0.107", report.ToString());
        return 0;
    }

    static IEnumerable<(string Label, Func<(LoraAdapter, double?)> Aggregate)> Modes(List<LoraAdapter> updates, double[] weights)
    {
        yield return ("stack (A2, unbounded)", () => (ModuleAlignment.Combine(updates, column => FloraStacking.Stack(column, weights, ScalarType.Float32)), null));
        yield return ("bounded (lossless, default)", () => Reported(new FloraStacking(), updates, weights));
        yield return ("energy 0.99", () => Reported(new FloraStacking(globalEnergy: 0.99), updates, weights));
        yield return ("energy 0.9", () => Reported(new FloraStacking(globalEnergy: 0.9), updates, weights));
    }

    static (LoraAdapter, double?) Reported(FloraStacking strategy, List<LoraAdapter> updates, double[] weights)
    {
        var (global, factoring) = strategy.AggregateWithFactoring(updates, weights);
        return (global, factoring?.Max(f => f.RelativeError) ?? 0);
    }

    /// <summary>The largest ||D - B A||_F / ||D||_F over the bounded modules, D = sum_k p_k dW_k in float64: what "lossless" leaves.</summary>
    static double MeasuredError(LoraAdapter global, List<LoraAdapter> updates, double[] weights) =>
        global.Modules.Where(m => m.Rank == Math.Min(m.InFeatures, m.OutFeatures)).Select(m =>
        {
            using var scope = NewDisposeScope();
            var exact = zeros(m.OutFeatures, m.InFeatures, float64);
            for (int k = 0; k < updates.Count; k++)
            {
                using var delta = updates[k][m.Name].DenseDelta(float64);
                exact.add_(delta, weights[k]);
            }
            return (exact - m.DenseDelta(float64)).norm().item<double>() / exact.norm().item<double>();
        }).DefaultIfEmpty(0).Max();

    /// <summary>Median wall time of <see cref="Repetitions"/> runs after a warm-up, and the last run's result.</summary>
    static (double Milliseconds, LoraAdapter Global, double? Error) Measure(Func<(LoraAdapter, double?)> aggregate)
    {
        aggregate().Item1.Dispose();
        var times = new List<double>();
        for (int i = 0; ; i++)
        {
            var watch = Stopwatch.StartNew();
            var (global, error) = aggregate();
            times.Add(watch.Elapsed.TotalMilliseconds);
            if (i == Repetitions - 1)
            {
                times.Sort();
                return (times[times.Count / 2], global, error);
            }
            global.Dispose();
        }
    }

    /// <summary>K rank-16 updates: random factors, or a shared pair plus 30% noise of each client's own.</summary>
    static List<LoraAdapter> Clients(IReadOnlyList<ModuleShape> shapes, int k, bool aligned)
    {
        using var shared = RandomAdapters.Create(shapes, Rank, alpha: 2 * Rank, seed: 1);
        return Enumerable.Range(0, k).Select(i =>
        {
            var own = RandomAdapters.Create(shapes, Rank, alpha: 2 * Rank, seed: 1000 + i);
            if (!aligned) return own;
            using (own)
                return new LoraAdapter(shared.Modules.Select(m =>
                {
                    using var scope = NewDisposeScope();
                    var a = (m.A + 0.3 * own[m.Name].A).contiguous();
                    var b = (m.B + 0.3 * own[m.Name].B).contiguous();
                    return m.With(a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), m.Alpha);
                }).ToList());
        }).ToList();
    }

    /// <summary>The rank of the target's modules: one value, or the range over layers.</summary>
    static string Ranks(LoraAdapter global, string target)
    {
        var ranks = global.Modules.Where(m => m.TargetName == target).Select(m => m.Rank).ToList();
        return ranks.Min() == ranks.Max()
            ? ranks[0].ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{ranks.Min()}-{ranks.Max()}");
    }
}
