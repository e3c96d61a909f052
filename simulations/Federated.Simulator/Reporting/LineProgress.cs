using Federated.Training.Evaluation;
using Federated.Simulator.Experiments;
using Federated.Simulator.Runtime;

namespace Federated.Simulator.Reporting;

/// <summary>Progress as plain lines, for logs, CI and redirected output.</summary>
public sealed class LineProgress(TextWriter output) : ISimulationProgress
{
    public void Log(string message) => output.WriteLine(message);
    public void RoundStarted(ExperimentRun run, int round, int clients) { }
    public void ClientTrained(ExperimentRun run, int round) { }
    public void RoundDone(ExperimentRun run, RoundMetrics m) => output.WriteLine((m.Round == 0
        ? $"[{run.Name}] base model: held-out loss {m.EvalLoss:F4}"
        : $"[{run.Name}] round {m.Round} {m.Status}: {m.Accepted} accepted, {m.Rejected} rejected{Loss(m)}, {m.RoundSeconds:F1} s")
        + Task(m));

    /// <summary>", held-out loss 1.2345" when the round measured it (see evaluation.lossEveryRounds).</summary>
    internal static string Loss(RoundMetrics m) => double.IsNaN(m.EvalLoss) ? "" : $", held-out loss {m.EvalLoss:F4}";

    /// <summary>", word -> definition 0.310 [0.220, 0.410], ..." when the round measured the task metric.</summary>
    internal static string Task(RoundMetrics m) => m.Task is not { } task ? "" : string.Concat(task.Directions.Select(d =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $", {MultipleChoiceResult.Label(d.Direction)} {d.Accuracy.Value:F3} [{d.Accuracy.Lower:F3}, {d.Accuracy.Upper:F3}]")));
}
