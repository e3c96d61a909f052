namespace Federated.Training.Data.Corpora;

/// <summary>WordNet's parts of speech, from a synset's <c>ss_type</c> (satellite adjectives count as adjectives).</summary>
public enum PartOfSpeech
{
    Noun,
    Verb,
    Adjective,
    Adverb,
}

/// <summary>One synset of a WordNet data file: its words, lexicographer file and gloss split into definition and examples.</summary>
/// <param name="Offset">The synset's byte offset in its data file (<c>synset_offset</c>), unique per part of speech.</param>
/// <param name="Words">The synonyms in file order, underscores turned into spaces, adjective markers such as "(p)" removed.</param>
/// <param name="Definition">The gloss without its quoted example sentences.</param>
/// <param name="Examples">The gloss's quoted example sentences, without the quotes.</param>
public sealed record WordNetSynset(
    long Offset,
    int LexFileNumber,
    PartOfSpeech PartOfSpeech,
    IReadOnlyList<string> Words,
    string Definition,
    IReadOnlyList<string> Examples)
{
    /// <summary>The lexicographer file's name, e.g. <c>noun.animal</c>: the synset's natural domain.</summary>
    public string Domain => WordNetLexicographerFiles.Name(LexFileNumber);
}
