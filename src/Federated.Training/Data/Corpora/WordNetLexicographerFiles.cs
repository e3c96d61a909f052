namespace Federated.Training.Data.Corpora;

/// <summary>
/// The 45 WordNet 3.0 lexicographer files, indexed by the <c>lex_filenum</c> field of the data files
/// (lexnames(5WN); Debian's wordnet-base does not ship the <c>lexnames</c> file itself, so the list is written out).
/// </summary>
public static class WordNetLexicographerFiles
{
    public static IReadOnlyList<string> Names { get; } =
    [
        "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
        "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
        "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
        "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
        "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
        "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
        "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
    ];

    /// <exception cref="ArgumentOutOfRangeException">The number is not one of the 45 files.</exception>
    public static string Name(int lexFileNumber)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lexFileNumber);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(lexFileNumber, Names.Count);
        return Names[lexFileNumber];
    }
}
