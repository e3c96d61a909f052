using System.Runtime.InteropServices;
using System.Text.Json;
using Federated.Simulator.Experiments;

namespace Federated.Simulator.Reporting;

/// <summary>A run's files: metrics.csv (one row per round) and summary.json (settings, environment, outcome).</summary>
public static class RunResults
{
    public const string MetricsFile = "metrics.csv";
    public const string SummaryFile = "summary.json";

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
                roundsClosed = rows.Count(r => r.Status == "closed"),
                roundsFailed = rows.Count(r => r.Status == "failed"),
                attackersExcludedShare = rows.Sum(r => r.AttackersSubmitted) is var a and > 0 ? rows.Sum(r => r.AttackersExcluded) / (double)a : (double?)null,
                wallSeconds = Math.Round(elapsed.TotalSeconds, 1),
            },
            environment = new
            {
                machine = Environment.MachineName,
                os = RuntimeInformation.OSDescription,
                cores = Environment.ProcessorCount,
                dotnet = RuntimeInformation.FrameworkDescription,
                torch = "libtorch " + TorchSharp.torch.__version__,
                date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
            },
        };
        File.WriteAllText(Path.Combine(directory, SummaryFile), JsonSerializer.Serialize(summary, ExperimentLoader.Json) + "\n");
    }

    /// <summary>A directory name for a run: its name with anything unusual replaced.</summary>
    public static string Slug(string name) =>
        new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : c == '=' ? '-' : '_').ToArray()).Trim('_');
}
