using Federated.Simulator.Experiments;
using Federated.Simulator.Runtime;
using Spectre.Console;

namespace Federated.Simulator.Reporting;

/// <summary>A live progress bar per run in the terminal (with ETA), plus a line per finished round.</summary>
public sealed class LiveProgress(ProgressContext context) : ISimulationProgress
{
    readonly Dictionary<string, ProgressTask> _tasks = [];
    readonly Lock _gate = new();

    ProgressTask TaskFor(ExperimentRun run)
    {
        lock (_gate)
        {
            if (!_tasks.TryGetValue(run.Name, out var task))
                _tasks[run.Name] = task = context.AddTask(Markup.Escape(run.Name), maxValue: run.Settings.Rounds * run.Settings.ClientsPerRound);
            return task;
        }
    }

    public void Log(string message) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]");

    public void RoundStarted(ExperimentRun run, int round, int clients) => TaskFor(run).Description = Markup.Escape($"{run.Name}: round {round}, {clients} clients training");

    public void ClientTrained(ExperimentRun run, int round) => TaskFor(run).Increment(1);

    public void RoundDone(ExperimentRun run, RoundMetrics m)
    {
        var task = TaskFor(run);
        if (m.Round > 0)
        {
            // Failed rounds are retried; dropped clients never train: keep the bar honest about what is left.
            task.Value = Math.Max(task.Value, Math.Min(task.MaxValue, m.Round * run.Settings.ClientsPerRound));
            task.Description = Markup.Escape($"{run.Name}: round {m.Round} {m.Status}{LineProgress.Loss(m)}");
        }
        else task.Description = Markup.Escape($"{run.Name}: base model, held-out loss {m.EvalLoss:F4}");
    }
}
