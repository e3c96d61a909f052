namespace Federated.Training.Data.Corpora;

/// <summary>
/// A synset read back from the definition example <see cref="WordNetGlosses.ToExample"/> made of it, so that whatever
/// held a set of examples (a partition's hold-out, a <c>global-heldout.jsonl</c> file) can be turned into task items.
/// </summary>
/// <param name="Words">The synonyms, first word first.</param>
public sealed record WordNetDefinition(string Domain, PartOfSpeech PartOfSpeech, IReadOnlyList<string> Words, string Definition)
{
    const string AlsoOpening = " (also: ";

    public string Word => Words[0];

    /// <summary>The part of speech as the instruction names it: noun, verb, adjective or adverb.</summary>
    public static string Name(PartOfSpeech partOfSpeech) => partOfSpeech switch
    {
        PartOfSpeech.Noun => "noun",
        PartOfSpeech.Verb => "verb",
        PartOfSpeech.Adjective => "adjective",
        _ => "adverb",
    };

    /// <returns>The definition, or null when the example is not in <see cref="WordNetGlosses.ToExample"/>'s form.</returns>
    public static WordNetDefinition? FromExample(DomainExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        PartOfSpeech? partOfSpeech = example.Instruction switch
        {
            "Define the noun." => PartOfSpeech.Noun,
            "Define the verb." => PartOfSpeech.Verb,
            "Define the adjective." => PartOfSpeech.Adjective,
            "Define the adverb." => PartOfSpeech.Adverb,
            _ => null,
        };
        if (partOfSpeech is null || example.Input.Length == 0 || example.Output.Trim().Length == 0)
            return null;
        var also = example.Input.IndexOf(AlsoOpening, StringComparison.Ordinal);
        IReadOnlyList<string> words = also < 0
            ? [example.Input]
            : example.Input.EndsWith(')')
                ? [example.Input[..also], .. example.Input[(also + AlsoOpening.Length)..^1].Split(", ")]
                : [example.Input];
        return words.Any(w => w.Trim().Length == 0) ? null : new WordNetDefinition(example.Domain, partOfSpeech.Value, words, example.Output);
    }
}
