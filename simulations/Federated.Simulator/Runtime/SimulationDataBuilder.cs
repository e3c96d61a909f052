using Federated.Simulator.Experiments;
using Federated.Training.Data;
using Federated.Training.Tokenization;

namespace Federated.Simulator.Runtime;

/// <summary>Turns an experiment's data settings into each virtual client's train and held-out examples.</summary>
public static class SimulationDataBuilder
{
    public static SimulationData Build(RunSettings settings, ITextTokenizer tokenizer)
    {
        var d = settings.Data;
        var all = d.Source switch
        {
            DataSource.Jsonl => InstructionDataset.Load(d.Path!, tokenizer, settings.Model.ContextLength).Examples,
            _ => throw new ExperimentException($"data.source {d.Source} is not available yet"),
        };
        var order = Enumerable.Range(0, all.Count).ToArray();
        new Random(unchecked((int)settings.Seed)).Shuffle(order);
        int globalEval = Math.Min(d.GlobalEvalExamples, all.Count / 5);
        var global = order.Take(globalEval).Select(i => all[i]).ToList();
        var rest = order.Skip(globalEval).ToArray();
        int per = rest.Length / settings.Clients;
        var clients = Enumerable.Range(0, settings.Clients).Select(c =>
        {
            var mine = rest.Skip(c * per).Take(per).Select(i => all[i]).ToList();
            int eval = Math.Min(d.EvalExamplesPerClient, Math.Max(1, mine.Count / 5));
            return new ClientData(c, ["all"], mine.Skip(eval).Take(d.MaxExamplesPerClient).ToList(), mine.Take(eval).ToList());
        }).ToList();
        return new SimulationData(clients, global);
    }
}
