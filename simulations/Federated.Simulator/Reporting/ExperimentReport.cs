using System.Globalization;
using System.Text;
using Federated.Simulator.Experiments;
using Federated.Training.Evaluation;
using ScottPlot;

namespace Federated.Simulator.Reporting;

/// <summary>
/// What a sweep ends with: PNG plots per round (held-out loss, and task accuracy when measured) with one line per method
/// (the mean over its seeds, with a ±sd band; with one seed the task plots band its 95% Wilson interval instead), and a
/// Markdown table: every run, then mean ± sd per method over seeds, then paired 95% intervals against the reference.
/// </summary>
public static class ExperimentReport
{
    public const string TableFile = "results.md";

    static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <param name="planned">Every run of the experiment, when <paramref name="results"/> may hold only some: the tables then say so.</param>
    public static void Write(string directory, Experiment experiment, IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results,
        IReadOnlyList<ExperimentRun>? planned = null)
    {
        var groups = RunGroup.Of(results);
        // One set of plots per condition and sweep point: the methods side by side under the same circumstances.
        foreach (var (point, members) in groups.GroupBy(g => g.Point).Select(g => (g.Key, g.ToList())))
        {
            string suffix = point.Length == 0 ? "" : "_" + RunResults.Slug(point);
            string title = point.Length == 0 ? experiment.Name : $"{experiment.Name}, {point}";
            Plot(Path.Combine(directory, $"eval_loss{suffix}.png"), $"{title}: global held-out loss", "held-out loss", members, r => r.EvalLoss);
            Plot(Path.Combine(directory, $"client_eval_loss{suffix}.png"), $"{title}: clients' own held-out loss (mean)", "held-out loss", members, r => r.ClientEvalLoss);
            if (HasTask(results))
                foreach (var direction in Enum.GetValues<ChoiceDirection>())
                    Plot(Path.Combine(directory, $"task_{MultipleChoiceResult.Key(direction).Replace('-', '_')}{suffix}.png"),
                        $"{title}: WordNet multiple choice, {MultipleChoiceResult.Label(direction)}", "accuracy (4 options)", members,
                        r => r.TaskAccuracy(direction), r => r.Task?[direction].Accuracy);
        }
        // Rows are built cell by cell with "| " separators: no trailing blanks in the committed Markdown.
        var table = string.Join('\n', Table(experiment, results, groups, Missing(results, planned)).Split('\n').Select(l => l.TrimEnd()));
        string path = Path.Combine(directory, TableFile);
        File.WriteAllText(path, WithReading(table, path));
    }

    /// <summary>
    /// Between these lines results.md is written by hand (what the numbers support, next to published claims): it stands
    /// after the description, and regenerating the tables keeps it.
    /// </summary>
    public const string ReadingStart = "<!-- reading: written by hand, kept when the tables are regenerated -->", ReadingEnd = "<!-- /reading -->";

    static string WithReading(string table, string path)
    {
        string old = File.Exists(path) ? File.ReadAllText(path) : "";
        int start = old.IndexOf(ReadingStart, StringComparison.Ordinal), end = old.IndexOf(ReadingEnd, StringComparison.Ordinal);
        if (start < 0 || end < start) return table;
        // After the title and the description: the first "## " heading of the tables.
        int at = table.IndexOf("\n## ", StringComparison.Ordinal);
        string reading = old[start..(end + ReadingEnd.Length)];
        return at < 0 ? table + "\n" + reading + "\n" : table[..(at + 1)] + reading + "\n" + table[at..];
    }

    static bool HasTask(IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results) => results.Any(r => r.Rows.Any(x => x.Task is not null));

    static void Plot(string path, string title, string yLabel, IReadOnlyList<RunGroup> groups, Func<RoundMetrics, double> value,
        Func<RoundMetrics, ProportionEstimate?>? interval = null)
    {
        var plot = new Plot();
        plot.Add.Palette = new ScottPlot.Palettes.Category20(); // up to 20 methods in distinct colours
        bool seeds = groups.Any(g => g.Runs.Count > 1);
        foreach (var (group, index) in groups.Select((g, i) => (g, i)))
        {
            var color = plot.Add.Palette.GetColor(index);
            var points = group.Runs.SelectMany(r => r.Rows).Where(r => !double.IsNaN(value(r))).GroupBy(r => r.Round).OrderBy(g => g.Key)
                .Select(g => (Round: (double)g.Key, Summary: SeedStatistics.Summarise(g.Select(value)), Rows: g.ToList())).ToList();
            if (points.Count == 0) continue;
            double[] xs = points.Select(p => p.Round).ToArray();
            (double[] Low, double[] High)? band = null;
            if (points.Any(p => p.Summary.N > 1))
                band = (points.Select(p => p.Summary.N > 1 ? p.Summary.Mean - p.Summary.Sd : p.Summary.Mean).ToArray(),
                        points.Select(p => p.Summary.N > 1 ? p.Summary.Mean + p.Summary.Sd : p.Summary.Mean).ToArray());
            else if (interval is not null && group.Runs.Count == 1)
                band = (points.Select(p => interval(p.Rows[0])!.Lower).ToArray(), points.Select(p => interval(p.Rows[0])!.Upper).ToArray());
            if (band is { } b)
            {
                var fill = plot.Add.FillY(xs, b.Low, b.High);
                fill.FillColor = color.WithAlpha(0.18);
                fill.LineWidth = 0;
                fill.MarkerSize = 0;
            }
            var line = plot.Add.Scatter(xs, points.Select(p => p.Summary.Mean).ToArray());
            line.Color = color;
            line.LegendText = group.Variant.Length > 0 ? group.Variant : group.Name; // the plot's title names the point
        }
        if (interval is not null)
        {
            var chance = plot.Add.HorizontalLine(1.0 / WordNetChoiceItems.Options);
            chance.LinePattern = LinePattern.Dashed;
            chance.Color = Colors.Gray;
            chance.LegendText = $"chance (1/{WordNetChoiceItems.Options})";
        }
        plot.Title(title + (seeds ? " (mean ± sd over seeds)" : interval is not null ? " (95% Wilson band)" : ""));
        plot.XLabel("round (0 = base model)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1); // rounds are whole numbers
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 1000, 560);
    }

    static IReadOnlyList<string> Missing(IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results, IReadOnlyList<ExperimentRun>? planned) =>
        planned is null ? [] : planned.Select(r => r.Name).Except(results.Select(r => r.Run.Name)).ToList();

    static string Table(Experiment experiment, IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results, IReadOnlyList<RunGroup> groups,
        IReadOnlyList<string> missing)
    {
        var md = new StringBuilder();
        md.AppendLine($"# {experiment.Name}").AppendLine();
        if (experiment.Description is { } d) md.AppendLine(d).AppendLine();
        if (missing.Count > 0)
            md.AppendLine($"**Partial: {results.Count} of {results.Count + missing.Count} runs done.** Not run yet: " +
                          (missing.Count <= 12 ? string.Join(", ", missing) : $"{string.Join(", ", missing.Take(12))} and {missing.Count - 12} more") + ".").AppendLine();
        bool attacks = results.Any(r => r.Rows.Sum(x => x.AttackersSubmitted) > 0);
        bool task = HasTask(results);
        var directions = Enum.GetValues<ChoiceDirection>();
        if (groups.Any(g => g.Condition.Length > 0))
            ByCondition(md, experiment, groups, attacks);
        if (results.Count > MaxRunRows)
        {
            md.AppendLine().AppendLine($"{results.Count} runs: each run's final numbers are in its directory (`summary.json`, `metrics.csv`).");
            return Summaries(md, experiment, groups, task, directions);
        }
        md.AppendLine().AppendLine("## Runs").AppendLine();
        md.AppendLine("| run | base loss | final loss | change | final perplexity | clients' own loss | rounds closed | " + (attacks ? "attackers excluded | " : "") +
                      (task ? string.Concat(directions.Select(x => $"{MultipleChoiceResult.Label(x)} (95% CI) | ")) : "") + "seconds |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|" + (attacks ? "---:|" : "") + (task ? string.Concat(directions.Select(_ => "---:|")) : "") + "---:|");
        foreach (var (run, rows) in results)
        {
            var last = rows.Last(r => !double.IsNaN(r.EvalLoss));
            int submitted = rows.Sum(r => r.AttackersSubmitted);
            string excluded = submitted == 0 ? "-" : $"{rows.Sum(r => r.AttackersExcluded)}/{submitted}";
            md.Append(C, $"| {Escape(run.Name)} | {rows[0].EvalLoss:F4} | {last.EvalLoss:F4} | {last.EvalLoss - rows[0].EvalLoss:+0.0000;-0.0000} | {last.EvalPerplexity:F3} | ")
              .Append(C, $"{last.ClientEvalLoss:F4} | {rows.Count(r => r.Status == "closed")}/{rows.Count - 1} | ")
              .Append(attacks ? excluded + " | " : "")
              .Append(task ? string.Concat(directions.Select(x => (FinalTask(rows, x) is { } p ? Estimate(p) : "-") + " | ")) : "")
              .AppendLine(string.Create(C, $"{rows.Sum(r => r.RoundSeconds):F0} |"));
        }
        if (task)
            md.AppendLine().AppendLine($"Task: WordNet definition multiple choice on held-out synsets ({WordNetChoiceItems.Options} options, distractors from the " +
                                       "same domain and part of speech, scored by log-likelihood per byte); accuracy at the final round with its 95% Wilson interval.");

        return Summaries(md, experiment, groups, task, directions);
    }

    /// <summary>Past this many runs the table of every run is left out (each run's directory has its numbers).</summary>
    const int MaxRunRows = 120;

    static string Summaries(StringBuilder md, Experiment experiment, IReadOnlyList<RunGroup> groups, bool task, ChoiceDirection[] directions)
    {
        if (groups.Any(g => g.Runs.Count > 1))
        {
            md.AppendLine().AppendLine("## Mean ± sd over seeds").AppendLine();
            md.AppendLine("| method | seeds | final loss | change | clients' own loss | " + (task ? string.Concat(directions.Select(x => $"{MultipleChoiceResult.Label(x)} | ")) : ""));
            md.AppendLine("|---|---:|---:|---:|---:|" + (task ? string.Concat(directions.Select(_ => "---:|")) : ""));
            foreach (var g in groups)
            {
                md.Append(C, $"| {Escape(g.Name)} | {g.Runs.Count} | {MeanSd(g.Summary(FinalLoss))} | {MeanSd(g.Summary(LossChange))} | {MeanSd(g.Summary(FinalClientLoss))} | ");
                if (task) md.Append(string.Concat(directions.Select(x => MeanSd(g.Summary(r => FinalAccuracy(r, x))) + " | ")));
                md.AppendLine();
            }
        }

        if (experiment.Reference is { } reference)
        {
            md.AppendLine().AppendLine($"## Against the reference '{reference}'").AppendLine();
            md.AppendLine("Paired differences (method - reference) over the seeds both ran, at the same sweep point: mean " +
                          "[95% t interval]. A difference is named only where its interval excludes zero.").AppendLine();
            md.AppendLine("| method | seeds | final loss | " + (task ? string.Concat(directions.Select(x => $"{MultipleChoiceResult.Label(x)} | ")) : ""));
            md.AppendLine("|---|---:|---:|" + (task ? string.Concat(directions.Select(_ => "---:|")) : ""));
            foreach (var g in groups.Where(g => g.Variant != reference))
            {
                if (groups.FirstOrDefault(r => r.Variant == reference && r.Point == g.Point) is not { } baseline) continue;
                var loss = g.Paired(baseline, FinalLoss);
                md.Append(C, $"| {Escape(g.Name)} | {loss.Seeds} | {Difference(loss)} | ");
                if (task) md.Append(string.Concat(directions.Select(x => Difference(g.Paired(baseline, r => FinalAccuracy(r, x))) + " | ")));
                md.AppendLine();
            }
        }
        return md.ToString();
    }

    /// <summary>
    /// Methods as rows, conditions as columns: the final loss's mean ± sd over seeds, then each method's paired interval
    /// against the reference under the same condition, and the share of attackers' updates the rule left out.
    /// </summary>
    static void ByCondition(StringBuilder md, Experiment experiment, IReadOnlyList<RunGroup> groups, bool attacks)
    {
        var conditions = groups.Select(g => g.Condition).Distinct().ToList();
        var methods = groups.Select(g => g.Method).Distinct().ToList();
        RunGroup? Cell(string method, string condition) => groups.FirstOrDefault(g => g.Method == method && g.Condition == condition);
        string header = "| method | " + string.Concat(conditions.Select(c => Escape(c) + " | ")), rule = "|---|" + string.Concat(conditions.Select(_ => "---:|"));
        void Pivot(string title, string note, Func<string, RunGroup, string> cell)
        {
            md.AppendLine().AppendLine($"## {title}").AppendLine();
            if (note.Length > 0) md.AppendLine(note).AppendLine();
            md.AppendLine(header).AppendLine(rule);
            foreach (var method in methods)
                md.AppendLine($"| {Escape(method)} | " + string.Concat(conditions.Select(c => (Cell(method, c) is { } g ? cell(method, g) : "-") + " | ")));
        }
        Pivot("Final held-out loss by condition", "Mean ± sd over seeds of the global held-out loss after the last round.", (_, g) => MeanSd(g.Summary(FinalLoss)));
        if (experiment.Reference is { } reference)
            Pivot($"Against '{reference}' by condition",
                "Paired differences of the final loss (method - reference, same condition, same seeds): mean [95% t interval]; " +
                "**higher**/**lower** only where the interval excludes zero.",
                (method, g) => method == reference || Cell(reference, g.Condition) is not { } baseline ? "-"
                    : Difference(g.Paired(baseline, FinalLoss)));
        if (attacks)
            Pivot("Attackers' updates left out", "Share of the attackers' submitted updates that the rule rejected or gave no weight, over all rounds and seeds.",
                (_, g) => g.Runs.Sum(r => r.Rows.Sum(x => x.AttackersSubmitted)) is var n and > 0
                    ? string.Create(C, $"{g.Runs.Sum(r => r.Rows.Sum(x => x.AttackersExcluded)) / (double)n:P0}") : "-");
    }

    /// <summary>The global held-out loss after the last round that has one.</summary>
    public static double FinalLoss(IReadOnlyList<RoundMetrics> rows) => rows.LastOrDefault(r => !double.IsNaN(r.EvalLoss))?.EvalLoss ?? double.NaN;

    /// <summary>The clients' mean loss on their own held-out slices, at the last round that measured it.</summary>
    static double FinalClientLoss(IReadOnlyList<RoundMetrics> rows) => rows.LastOrDefault(r => !double.IsNaN(r.EvalLoss))?.ClientEvalLoss ?? double.NaN;

    static double LossChange(IReadOnlyList<RoundMetrics> rows) => FinalLoss(rows) - rows[0].EvalLoss;

    /// <summary>The task accuracy of the last federated round that measured it (none: the run has no final task result).</summary>
    public static ProportionEstimate? FinalTask(IReadOnlyList<RoundMetrics> rows, ChoiceDirection direction) =>
        rows.LastOrDefault(r => r.Task is not null && r.Round > 0)?.Task![direction].Accuracy;

    public static double FinalAccuracy(IReadOnlyList<RoundMetrics> rows, ChoiceDirection direction) => FinalTask(rows, direction)?.Value ?? double.NaN;

    static string Estimate(ProportionEstimate p) => p.Trials == 0 ? "-" : string.Create(C, $"{p.Value:F3} [{p.Lower:F3}, {p.Upper:F3}]");

    static string MeanSd(MeanSd s) => s.N == 0 ? "-" : s.N == 1 ? string.Create(C, $"{s.Mean:F4}") : string.Create(C, $"{s.Mean:F4} ± {s.Sd:F4}");

    static string Difference((PairedInterval? Interval, int Seeds) paired) => paired switch
    {
        (_, 0) => "-",
        (null, var n) => $"n/a ({n} paired seed{(n == 1 ? "" : "s")}; needs 2)",
        ({ } d, _) => $"{Signed(d.Mean)} [{Signed(d.Lower)}, {Signed(d.Upper)}] " + (d.ExcludesZero ? d.Mean > 0 ? "**higher**" : "**lower**" : "no difference"),
    };

    /// <summary>A name in a table cell: its "|" (variant | condition) escaped, so it does not end the cell.</summary>
    static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    /// <summary>Four decimals with a sign; a value that rounds to zero is +0.0000 (never "-+0.0000").</summary>
    static string Signed(double value) => (Math.Round(value, 4) + 0.0).ToString("+0.0000;-0.0000;+0.0000", C);
}
