using Federated.Simulator.Experiments;
using Federated.Simulator.Reporting;

namespace Federated.Simulator.Runtime;

/// <summary>
/// The two bounds a federated result is read against, run through the same coordinator and client round as a federation
/// of one client (FedIT, which continues the one adapter round after round): centralised training on the union of the
/// clients' data with the whole federation's steps, and local-only training, every client alone on its own data.
/// </summary>
public static class TrainingBounds
{
    /// <summary>One client, every round taking the steps all the federation's clients took, at the largest rank.</summary>
    public static RunSettings Centralised(RunSettings s) => Alone(s, s.Ranks.Max()) with { LocalSteps = s.LocalSteps * s.ClientsPerRound };

    /// <summary>Client <paramref name="client"/> alone, at the rank it has in the federation.</summary>
    public static RunSettings Local(RunSettings s, int client) => Alone(s, s.Ranks[client % s.Ranks.Length]);

    static RunSettings Alone(RunSettings s, int rank) => s with
    {
        Mode = TrainingMode.Federated, Clients = 1, ClientsPerRound = 1, Quorum = null, Ranks = [rank],
        Strategy = "fedit", Rule = null, PreAggregator = null, ByzantineCount = 0, NormCap = null, OutputRank = null, GlobalEnergy = null, Parallelism = 1,
    };

    /// <summary>
    /// One client holding every client's training data (in client order; training samples it by the run's seed) and every
    /// client's held-out slice, so "clients' own loss" is over the same examples as the federation's.
    /// </summary>
    public static SimulationData Pooled(SimulationData data) => data with
    {
        Clients = [new ClientData(0, data.Clients.SelectMany(c => c.Domains).Distinct().ToList(),
            data.Clients.SelectMany(c => c.Train).ToList(), data.Clients.SelectMany(c => c.Eval).ToList())],
    };

    public static SimulationData Only(SimulationData data, int client) => data with { Clients = [data.Clients[client] with { Index = 0 }] };

    /// <summary>
    /// Per round, the mean over the clients' own runs of the losses (the global held-out loss of each client's model, and
    /// each on its own slice); counts and seconds are summed. The base model's row keeps its task result (the same base).
    /// </summary>
    public static IReadOnlyList<RoundMetrics> Mean(IReadOnlyList<IReadOnlyList<RoundMetrics>> perClient)
    {
        int rounds = perClient.Min(rows => rows.Count);
        return Enumerable.Range(0, rounds).Select(i =>
        {
            var rows = perClient.Select(r => r[i]).ToList();
            return rows[0] with
            {
                Status = rows.All(r => r.Status == rows[0].Status) ? rows[0].Status : "mixed",
                Selected = rows.Sum(r => r.Selected), Submitted = rows.Sum(r => r.Submitted), Accepted = rows.Sum(r => r.Accepted),
                Rejected = rows.Sum(r => r.Rejected), Refused = rows.Sum(r => r.Refused),
                TrainLoss = rows.Average(r => r.TrainLoss), EvalLoss = rows.Average(r => r.EvalLoss), ClientEvalLoss = rows.Average(r => r.ClientEvalLoss),
                GlobalRank = rows.Max(r => r.GlobalRank), RoundSeconds = rows.Sum(r => r.RoundSeconds),
                AggregationSeconds = rows.Sum(r => r.AggregationSeconds), TaskSeconds = rows.Sum(r => r.TaskSeconds),
            };
        }).ToList();
    }
}
