using System.Runtime.InteropServices;
using System.Text.Json;
using Federated.Core.Runtime;
using Federated.Simulator.Experiments;
using Federated.Training.Evaluation;

namespace Federated.Simulator.Reporting;

/// <summary>A run's files: metrics.csv (one row per round) and summary.json (settings, environment, outcome).</summary>
public static class RunResults
{
    public const string MetricsFile = "metrics.csv";
    public const string SummaryFile = "summary.json";

    /// <summary>The rows as they were measured, with the run's settings: what <c>--resume</c> reads instead of running the run again.</summary>
    public const string RowsFile = "rows.json";

    static readonly JsonSerializerOptions RowsJson = new(ExperimentLoader.Json)
    {
        WriteIndented = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    sealed record StoredRows(RunSettings Settings, IReadOnlyList<RoundMetrics> Rows);

    /// <summary>A finished run's rows, when <paramref name="directory"/> holds them for exactly these settings; else null.</summary>
    public static IReadOnlyList<RoundMetrics>? TryRead(string directory, ExperimentRun run)
    {
        string path = Path.Combine(directory, RowsFile);
        if (!File.Exists(path)) return null;
        try
        {
            var stored = JsonSerializer.Deserialize<StoredRows>(File.ReadAllText(path), RowsJson);
            return stored is not null && JsonSerializer.Serialize(stored.Settings, RowsJson) == JsonSerializer.Serialize(run.Settings, RowsJson) ? stored.Rows : null;
        }
        catch (JsonException) { return null; } // written by another version: run it again
    }

    public static void Write(string directory, ExperimentRun run, IReadOnlyList<RoundMetrics> rows, TimeSpan elapsed)
    {
        Directory.CreateDirectory(directory);
        var lines = new List<string> { string.Join(",", RoundMetrics.Columns) };
        lines.AddRange(rows.Select(r => string.Join(",", r.Values())));
        File.WriteAllLines(Path.Combine(directory, MetricsFile), lines);

        var last = rows.Last(r => !double.IsNaN(r.EvalLoss));
        var summary = new
        {
            experiment = run.Experiment,
            run = run.Name,
            settings = run.Settings,
            outcome = new
            {
                baseEvalLoss = rows[0].EvalLoss,
                finalEvalLoss = last.EvalLoss,
                finalEvalPerplexity = last.EvalPerplexity,
                finalClientEvalLoss = last.ClientEvalLoss,
                // WordNet multiple choice (95% Wilson intervals, per domain too): the base model's and the last measured round's.
                baseTask = TaskSummary(rows[0]),
                finalTask = rows.LastOrDefault(r => r.Task is not null && r.Round > 0) is { } t ? TaskSummary(t) : null,
                roundsClosed = rows.Count(r => r.Status == "closed"),
                roundsFailed = rows.Count(r => r.Status == "failed"),
                attackersExcludedShare = rows.Sum(r => r.AttackersSubmitted) is var a and > 0 ? rows.Sum(r => r.AttackersExcluded) / (double)a : (double?)null,
                wallSeconds = Math.Round(elapsed.TotalSeconds, 1),
                meanRoundSeconds = Math.Round(rows.Skip(1).Select(r => r.RoundSeconds).DefaultIfEmpty(0).Average(), 2),
                // Of the whole process so far (runs of one experiment share it).
                peakWorkingSetMegabytes = System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 >> 20,
            },
            environment = new
            {
                machine = Environment.MachineName,
                os = RuntimeInformation.OSDescription,
                cores = Environment.ProcessorCount,
                dotnet = RuntimeInformation.FrameworkDescription,
                torch = "libtorch " + TorchSharp.torch.__version__,
                mklKernels = MklDispatch.UseAvx512OnAmd().ToString(), // chosen at start; the GEMMs' rounding depends on it
                date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
            },
        };
        File.WriteAllText(Path.Combine(directory, SummaryFile), JsonSerializer.Serialize(summary, ExperimentLoader.Json) + "\n");
        // Last: a run cut short while writing leaves no rows (or unreadable ones), and --resume runs it again.
        File.WriteAllText(Path.Combine(directory, RowsFile), JsonSerializer.Serialize(new StoredRows(run.Settings, rows), RowsJson));
    }

    static object? TaskSummary(RoundMetrics row) => row.Task is not { } task ? null : new
    {
        round = row.Round,
        seconds = Math.Round(row.TaskSeconds, 2),
        directions = task.Directions.ToDictionary(d => MultipleChoiceResult.Key(d.Direction), d => new
        {
            accuracy = Estimate(d.Accuracy),
            skipped = d.Skipped,
            byDomain = d.ByDomain.ToDictionary(p => p.Key, p => Estimate(p.Value)),
        }),
    };

    static object Estimate(ProportionEstimate p) => new
    {
        value = double.IsNaN(p.Value) ? (double?)null : Math.Round(p.Value, 4),
        lower = double.IsNaN(p.Lower) ? (double?)null : Math.Round(p.Lower, 4),
        upper = double.IsNaN(p.Upper) ? (double?)null : Math.Round(p.Upper, 4),
        correct = p.Successes,
        items = p.Trials,
    };

    /// <summary>A directory name for a run: its name with anything unusual replaced.</summary>
    public static string Slug(string name) =>
        System.Text.RegularExpressions.Regex.Replace(
            new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : c == '=' ? '-' : '_').ToArray()), "_{2,}", "_").Trim('_');
}
