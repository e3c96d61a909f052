using System.Globalization;
using System.Text;
using Federated.Simulator.Experiments;
using ScottPlot;

namespace Federated.Simulator.Reporting;

/// <summary>What a sweep ends with: PNG plots of held-out loss per round per run, and a Markdown table comparing the runs.</summary>
public static class ExperimentReport
{
    public const string TableFile = "results.md";

    public static void Write(string directory, Experiment experiment, IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results)
    {
        Plot(Path.Combine(directory, "eval_loss.png"), $"{experiment.Name}: global held-out loss", "held-out loss", results, r => r.EvalLoss);
        Plot(Path.Combine(directory, "client_eval_loss.png"), $"{experiment.Name}: clients' own held-out loss (mean)", "held-out loss", results, r => r.ClientEvalLoss);
        File.WriteAllText(Path.Combine(directory, TableFile), Table(experiment, results));
    }

    static void Plot(string path, string title, string yLabel, IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results, Func<RoundMetrics, double> value)
    {
        var plot = new Plot();
        foreach (var (run, rows) in results)
        {
            var points = rows.Where(r => !double.IsNaN(value(r))).ToList();
            var line = plot.Add.Scatter(points.Select(r => (double)r.Round).ToArray(), points.Select(value).ToArray());
            line.LegendText = run.Name;
        }
        plot.Title(title);
        plot.XLabel("round (0 = base model)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1); // rounds are whole numbers
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1000, 560);
    }

    static string Table(Experiment experiment, IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results)
    {
        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine($"# {experiment.Name}").AppendLine();
        if (experiment.Description is { } d) md.AppendLine(d).AppendLine();
        bool attacks = results.Any(r => r.Rows.Sum(x => x.AttackersSubmitted) > 0);
        md.AppendLine("| run | base loss | final loss | change | final perplexity | clients' own loss | rounds closed | " + (attacks ? "attackers excluded | " : "") + "seconds |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|" + (attacks ? "---:|" : "") + "---:|");
        foreach (var (run, rows) in results)
        {
            var last = rows.Last(r => !double.IsNaN(r.EvalLoss));
            int submitted = rows.Sum(r => r.AttackersSubmitted);
            string excluded = submitted == 0 ? "-" : $"{rows.Sum(r => r.AttackersExcluded)}/{submitted}";
            md.Append(c, $"| {run.Name} | {rows[0].EvalLoss:F4} | {last.EvalLoss:F4} | {last.EvalLoss - rows[0].EvalLoss:+0.0000;-0.0000} | {last.EvalPerplexity:F3} | ")
              .Append(c, $"{last.ClientEvalLoss:F4} | {rows.Count(r => r.Status == "closed")}/{rows.Count - 1} | ")
              .Append(attacks ? excluded + " | " : "")
              .AppendLine(string.Create(c, $"{rows.Sum(r => r.RoundSeconds):F0} |"));
        }
        return md.ToString();
    }
}
