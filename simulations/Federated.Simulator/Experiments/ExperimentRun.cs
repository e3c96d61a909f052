using Federated.Core.Robust;

namespace Federated.Simulator.Experiments;

/// <summary>One concrete run of an experiment: its name (variant, sweep values, seed) and complete settings.</summary>
/// <param name="Variant">The variant's name ("" without variants).</param>
/// <param name="Point">The sweep values, e.g. "localSteps=10" ("" without a sweep).</param>
/// <param name="GroupName">The name without the seed; null: <paramref name="Name"/>.</param>
/// <param name="Condition">The condition's name ("" without conditions); <paramref name="Point"/> includes it.</param>
public sealed record ExperimentRun(string Experiment, string Name, RunSettings Settings, string Variant = "", string Point = "", string? GroupName = null,
    string Condition = "")
{
    /// <summary>The runs of one method, which tables pool over seeds, share it: the name without the seed.</summary>
    public string Group => GroupName ?? Name;

    /// <summary>Clients per round that must be accepted: the explicit quorum, else half rounded up, at least what the rule needs.</summary>
    public int Quorum => Settings.Quorum ?? Math.Max((Settings.ClientsPerRound + 1) / 2, RobustRules.MinimumClients(Settings.Rule, Settings.ByzantineCount, Settings.PreAggregator));
}
