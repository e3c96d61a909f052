using Federated.Simulator.Experiments;
using Federated.Training.Data;
using Federated.Training.Data.Corpora;
using Federated.Training.Evaluation;
using Federated.Training.Tokenization;

namespace Federated.Simulator.Runtime;

/// <summary>
/// Turns an experiment's data settings into each virtual client's train and held-out examples: a corpus
/// nobody in this project wrote (WordNet glosses by lexicographer domain, fortunes by language) or the
/// user's JSONL, partitioned naturally, by Dirichlet(alpha) over domains, or IID.
/// </summary>
public static class SimulationDataBuilder
{
    public static SimulationData Build(RunSettings settings, ITextTokenizer tokenizer)
    {
        var d = settings.Data;
        IReadOnlyList<DomainExample> corpus = d.Source switch
        {
            DataSource.WordNet => WordNetGlosses.Read(),
            DataSource.Fortunes => Fortunes.Read(),
            _ => DomainJsonl.ReadFile(d.Path!),
        };
        if (d.Domains is { } wanted)
        {
            var unknown = wanted.Except(corpus.Select(e => e.Domain)).ToList();
            if (unknown.Count > 0)
                throw new ExperimentException($"data.domains: '{unknown[0]}' is not a domain of the {d.Source} data (e.g. {string.Join(", ", corpus.Select(e => e.Domain).Distinct().Order().Take(5))})");
            corpus = corpus.Where(e => wanted.Contains(e.Domain)).ToList();
        }
        PartitionScheme scheme = d.Partition switch
        {
            PartitionKind.Natural => new PartitionScheme.Natural(),
            PartitionKind.Iid => new PartitionScheme.Iid(),
            _ => new PartitionScheme.Dirichlet(d.Alpha),
        };
        var options = new PartitionOptions(settings.Clients, unchecked((int)settings.Seed))
        {
            MaxExamplesPerClient = d.MaxExamplesPerClient + d.EvalExamplesPerClient,
            ClientEvaluationFraction = d.EvalExamplesPerClient / (double)(d.MaxExamplesPerClient + d.EvalExamplesPerClient),
        };
        FederatedPartition partition;
        try { partition = Partitioning.Partition(corpus, scheme, options); }
        catch (ArgumentException e) { throw new ExperimentException($"data: {e.Message}", e); }

        int context = settings.Model.ContextLength;
        var clients = partition.Clients.Select(c => new ClientData(c.Client, c.TrainDomainCounts.Keys.ToList(),
            Tokenize(c.Train, tokenizer, context, $"client {c.Client}'s training data"),
            // A small held-out slice may lose every example to the context length: that client is left out of the clients' mean.
            DomainDatasets.Build(c.Evaluation, tokenizer, context).Examples)).ToList();
        var global = Tokenize(partition.GlobalHeldOut.Take(d.GlobalEvalExamples).ToList(), tokenizer, context, "the global held-out set");
        // The task's synsets come from the whole global hold-out, which no client trains on (any source in WordNet's form).
        var items = WordNetChoiceItems.Build(partition.GlobalHeldOut, options.Seed, settings.Evaluation.TaskItems);
        return new SimulationData(clients, global, items);
    }

    static IReadOnlyList<TrainingExample> Tokenize(IReadOnlyList<DomainExample> examples, ITextTokenizer tokenizer, int context, string what)
    {
        var dataset = DomainDatasets.Build(examples, tokenizer, context);
        if (dataset.Examples.Count == 0)
            throw new ExperimentException($"{what} is empty after tokenizing ({examples.Count} examples, {dataset.Skipped} too long for " +
                                          $"model.contextLength {context}): give each client more examples or raise the context length");
        return dataset.Examples;
    }
}
