using System.Globalization;
using System.Text.RegularExpressions;

namespace Federated.Training.Data.Corpora;

/// <summary>
/// WordNet 3.0 glosses as definition examples ("Define the noun." / "dog (also: domestic dog, Canis familiaris)" /
/// the gloss's definition), each in the domain of its lexicographer file (noun.animal, verb.motion, ...).
/// Reads the Princeton data files (wndb(5WN)) that Debian's <c>wordnet-base</c> installs in <see cref="DefaultDirectory"/>:
/// license lines start with two spaces; every other line is
/// <c>synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] [frames ...] | gloss</c>.
/// </summary>
public static partial class WordNetGlosses
{
    public const string DefaultDirectory = "/usr/share/wordnet";

    /// <summary>The data files in the order they are read.</summary>
    public static IReadOnlyList<string> DataFiles { get; } = ["data.noun", "data.verb", "data.adj", "data.adv"];

    /// <summary>Every synset with a non-empty definition as an example, in file order (nouns, verbs, adjectives, adverbs).</summary>
    /// <exception cref="TrainingDataException">A data file is missing or a line is malformed.</exception>
    public static IReadOnlyList<DomainExample> Read(string directory = DefaultDirectory) =>
        ReadSynsets(directory).Where(s => s.Definition.Length > 0).Select(ToExample).ToList();

    public static IEnumerable<WordNetSynset> ReadSynsets(string directory = DefaultDirectory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        foreach (var name in DataFiles)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path))
                throw new TrainingDataException(path, null, "missing; install Debian's wordnet-base (apt-get install wordnet-base)");
            var lineNumber = 0;
            foreach (var line in File.ReadLines(path))
            {
                lineNumber++;
                if (ParseLine(line, path, lineNumber) is { } synset)
                    yield return synset;
            }
        }
    }

    /// <returns>The synset, or null for a license header line (two leading spaces) or a blank line.</returns>
    /// <exception cref="TrainingDataException">The line is not a synset.</exception>
    public static WordNetSynset? ParseLine(string line, string fileName, int lineNumber)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.StartsWith("  ", StringComparison.Ordinal) || string.IsNullOrWhiteSpace(line))
            return null;
        var bar = line.IndexOf(" | ", StringComparison.Ordinal);
        if (bar < 0)
            throw Malformed("no ' | ' before the gloss");
        var fields = line[..bar].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 6
            || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var lexFile)
            || lexFile >= WordNetLexicographerFiles.Names.Count
            || !int.TryParse(fields[3], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var wordCount)
            || wordCount < 1 || fields.Length < 4 + 2 * wordCount)
            throw Malformed("expected 'synset_offset lex_filenum ss_type w_cnt word lex_id ...'");
        var partOfSpeech = fields[2] switch
        {
            "n" => PartOfSpeech.Noun,
            "v" => PartOfSpeech.Verb,
            "a" or "s" => PartOfSpeech.Adjective,
            "r" => PartOfSpeech.Adverb,
            var other => throw Malformed($"unknown ss_type '{other}'"),
        };
        var words = new string[wordCount];
        for (var i = 0; i < wordCount; i++)
            words[i] = AdjectiveMarker().Replace(fields[4 + 2 * i], "").Replace('_', ' ');
        var (definition, examples) = SplitGloss(line[(bar + 3)..]);
        return new WordNetSynset(offset, lexFile, partOfSpeech, words, definition, examples);

        TrainingDataException Malformed(string detail) => new(fileName, lineNumber, $"not a WordNet synset: {detail}");
    }

    /// <summary>
    /// Splits a gloss into its definition and its quoted examples. The examples start at the first quote that follows
    /// a ';', ':' or ',' (WordNet uses all three), so quotes inside a definition (the phrase "make strides") stay.
    /// </summary>
    public static (string Definition, IReadOnlyList<string> Examples) SplitGloss(string gloss)
    {
        ArgumentNullException.ThrowIfNull(gloss);
        gloss = gloss.Trim();
        var start = gloss.StartsWith('"') ? 0 : ExamplesStart().Match(gloss) is { Success: true } m ? m.Index : gloss.Length;
        var definition = gloss[..start].TrimEnd(' ', ';', ':', ',');
        var examples = Quoted().Matches(gloss[start..]).Select(q => q.Groups[1].Value.Trim()).Where(e => e.Length > 0).ToList();
        return (definition, examples);
    }

    /// <summary>
    /// The instruction names the part of speech, and the input lists the synset's synonyms after its first word,
    /// because a word alone is ambiguous (WordNet has seven noun senses of "dog").
    /// </summary>
    public static DomainExample ToExample(WordNetSynset synset)
    {
        ArgumentNullException.ThrowIfNull(synset);
        var partOfSpeech = synset.PartOfSpeech switch
        {
            PartOfSpeech.Noun => "noun",
            PartOfSpeech.Verb => "verb",
            PartOfSpeech.Adjective => "adjective",
            _ => "adverb",
        };
        var input = synset.Words.Count == 1
            ? synset.Words[0]
            : $"{synset.Words[0]} (also: {string.Join(", ", synset.Words.Skip(1))})";
        return new DomainExample(synset.Domain, $"Define the {partOfSpeech}.", input, synset.Definition);
    }

    // Syntactic markers of adjectives in attributive, predicative or immediately postnominal position: "galore(ip)".
    [GeneratedRegex(@"\((a|p|ip)\)$")]
    private static partial Regex AdjectiveMarker();

    [GeneratedRegex(@"[;:,]\s*""")]
    private static partial Regex ExamplesStart();

    [GeneratedRegex(@"""([^""]*)""")]
    private static partial Regex Quoted();
}
