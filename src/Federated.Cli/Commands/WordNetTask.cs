using System.Globalization;
using Federated.Training.Data.Corpora;
using Federated.Training.Evaluation;

namespace Federated.Cli.Commands;

/// <summary>
/// <c>fed model eval --task wordnet-mc</c>: the simulator's WordNet multiple-choice metric on a model from anywhere, on the
/// same held-out synsets an experiment with the same seed and domains never trained on.
/// </summary>
static class WordNetTask
{
    public const string Name = "wordnet-mc";
    public const int DefaultSynsets = 200;
    public const int MaxSynsets = 100_000;

    /// <summary>The global hold-out of the simulator's partition for this seed and domain list (see <see cref="Partitioning.GlobalHeldOut"/>).</summary>
    /// <exception cref="ArgumentException">A domain is not a lexicographer file.</exception>
    public static IReadOnlyList<DomainExample> HeldOut(string directory, string[]? domains, int seed)
    {
        IReadOnlyList<DomainExample> corpus = WordNetGlosses.Read(directory);
        if (domains is { Length: > 0 })
        {
            if (domains.FirstOrDefault(d => !WordNetLexicographerFiles.Names.Contains(d)) is { } unknown)
                throw new ArgumentException($"--domains: '{unknown}' is not a WordNet lexicographer file (e.g. noun.animal, verb.motion, adj.all)");
            corpus = corpus.Where(e => domains.Contains(e.Domain)).ToList();
        }
        return Partitioning.GlobalHeldOut(corpus, seed, new PartitionOptions(1, seed).GlobalHeldOutFraction);
    }

    public static MultipleChoiceResult Run(IReadOnlyList<DomainExample> heldOut, IContinuationScorer scorer, int seed, int synsets, TextWriter output)
    {
        var items = WordNetChoiceItems.Build(heldOut, seed, synsets);
        if (items.Count == 0)
            throw new ArgumentException($"no multiple-choice items: the {heldOut.Count} held-out examples hold no domain with {WordNetChoiceItems.Options} usable synsets of one part of speech");
        var result = MultipleChoiceScorer.Evaluate(items, scorer);
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"{Name}: {heldOut.Count:N0} held-out examples, seed {seed}; {WordNetChoiceItems.Options} options scored by log-likelihood per byte; 95% Wilson intervals"));
        foreach (var direction in result.Directions)
            output.WriteLine($"{MultipleChoiceResult.Label(direction.Direction)}: accuracy {Format(direction.Accuracy)}" +
                             (direction.Skipped > 0 ? $", {direction.Skipped} skipped (longer than the model's context)" : ""));
        foreach (var domain in result.Directions.SelectMany(d => d.ByDomain.Keys).Distinct().Order(StringComparer.Ordinal))
            output.WriteLine($"  {domain}: " + string.Join("; ", result.Directions.Where(d => d.ByDomain.ContainsKey(domain))
                .Select(d => $"{MultipleChoiceResult.Label(d.Direction)} {Format(d.ByDomain[domain])}")));
        return result;
    }

    public static string Format(ProportionEstimate p) =>
        string.Create(CultureInfo.InvariantCulture, $"{p.Value:F4} [{p.Lower:F4}, {p.Upper:F4}] ({p.Successes}/{p.Trials})");
}
