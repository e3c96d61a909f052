using Federated.Core.Robust;

namespace Federated.Simulator.Experiments;

/// <summary>One concrete run of an experiment: its name (variant and sweep values) and complete settings.</summary>
public sealed record ExperimentRun(string Experiment, string Name, RunSettings Settings)
{
    /// <summary>Clients per round that must be accepted: the explicit quorum, else half rounded up, at least what the rule needs.</summary>
    public int Quorum => Settings.Quorum ?? Math.Max((Settings.ClientsPerRound + 1) / 2, RobustRules.MinimumClients(Settings.Rule, Settings.ByzantineCount));
}
