using Federated.Training.Data;
using Federated.Training.Evaluation;

namespace Federated.Simulator.Runtime;

/// <summary>One virtual client's private data: what it trains on and its own held-out slice.</summary>
public sealed record ClientData(int Index, IReadOnlyList<string> Domains, IReadOnlyList<TrainingExample> Train, IReadOnlyList<TrainingExample> Eval);

/// <param name="GlobalEval">Held out from every client: the global model's test set.</param>
/// <param name="TaskItems">WordNet multiple-choice items from the same global hold-out; empty when the data has no WordNet definitions.</param>
public sealed record SimulationData(IReadOnlyList<ClientData> Clients, IReadOnlyList<TrainingExample> GlobalEval, IReadOnlyList<ChoiceItem>? TaskItems = null);
