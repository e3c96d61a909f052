using Federated.Training.Tokenization;

namespace Federated.Training.Data.Corpora;

/// <summary>
/// Turns domain-tagged examples into training examples through <see cref="InstructionDataset"/>, so they get the same
/// <see cref="PromptTemplate"/>, prompt masking and truncation as instruction data read from a JSONL file.
/// </summary>
public static class DomainDatasets
{
    public static InstructionDataset Build(IEnumerable<DomainExample> examples, ITextTokenizer tokenizer, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(examples);
        return InstructionDataset.Build(examples.Select(e => e.Record), tokenizer, maxLength);
    }

    /// <summary>One dataset per domain, ordered by domain name: held-out loss is reported per domain and globally.</summary>
    public static IReadOnlyDictionary<string, InstructionDataset> BuildByDomain(
        IEnumerable<DomainExample> examples, ITextTokenizer tokenizer, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var byDomain = new SortedDictionary<string, InstructionDataset>(StringComparer.Ordinal);
        foreach (var group in examples.GroupBy(e => e.Domain, StringComparer.Ordinal))
            byDomain[group.Key] = Build(group, tokenizer, maxLength);
        return byDomain;
    }
}
