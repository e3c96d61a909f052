using Federated.Simulator.Experiments;
using Federated.Simulator.Runtime;

namespace Federated.Simulator.Reporting;

/// <summary>Progress as plain lines, for logs, CI and redirected output.</summary>
public sealed class LineProgress(TextWriter output) : ISimulationProgress
{
    public void Log(string message) => output.WriteLine(message);
    public void RoundStarted(ExperimentRun run, int round, int clients) { }
    public void ClientTrained(ExperimentRun run, int round) { }
    public void RoundDone(ExperimentRun run, RoundMetrics m) => output.WriteLine(m.Round == 0
        ? $"[{run.Name}] base model: held-out loss {m.EvalLoss:F4}"
        : $"[{run.Name}] round {m.Round} {m.Status}: {m.Accepted} accepted, {m.Rejected} rejected, held-out loss {m.EvalLoss:F4}, {m.RoundSeconds:F1} s");
}
