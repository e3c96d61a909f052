using Federated.Simulator.Experiments;
using Federated.Simulator.Reporting;

namespace Federated.Simulator.Runtime;

/// <summary>What a run reports while it goes: the terminal shows live progress, tests collect nothing.</summary>
public interface ISimulationProgress
{
    void Log(string message);
    void RoundStarted(ExperimentRun run, int round, int clients);
    void ClientTrained(ExperimentRun run, int round);
    void RoundDone(ExperimentRun run, RoundMetrics metrics);
}
