using System.Text;
using System.Text.RegularExpressions;

namespace Federated.Training.Data.Corpora;

/// <summary>One entry of a fortune collection.</summary>
/// <param name="Language">"en" for the collections at the top of the fortunes directory, else the subdirectory's name.</param>
/// <param name="Collection">The file's name, e.g. <c>startrek</c> or <c>witze</c>.</param>
public sealed record FortuneEntry(string Language, string Collection, string Text);

/// <summary>What a fortune example's domain is: its language (de, en, es, it, ...) or its collection (<c>de/witze</c>).</summary>
public enum FortuneDomain
{
    Language,
    Collection,
}

/// <summary>
/// The fortune cookie collections of Debian's <c>fortunes</c>, <c>fortunes-min</c> and per-language <c>fortunes-de</c>,
/// <c>-es</c>, <c>-it</c>, ... packages, as "Tell me a fortune." examples: a natural per-language split.
/// Layout under <see cref="DefaultDirectory"/>: English collections at the top, one subdirectory per language; a
/// collection is a UTF-8 text file with a strfile index next to it (<c>NAME.dat</c>; as for fortune(6), files without one,
/// such as fortunes-de's recipes, are not collections), whose entries are separated by lines holding only '%'.
/// Skipped: the indexes themselves, the <c>.u8</c> aliases, offensive sets (<c>off/</c> directories) and symbolic links
/// (the top holds links into <c>it/</c>, which would count Italian collections as English and twice).
/// </summary>
public static partial class Fortunes
{
    public const string DefaultDirectory = "/usr/share/games/fortunes";

    /// <summary>The language of the collections at the top of the directory.</summary>
    public const string TopLanguage = "en";

    public const string Instruction = "Tell me a fortune.";

    public static IReadOnlyList<DomainExample> Read(string directory = DefaultDirectory, FortuneDomain domain = FortuneDomain.Language) =>
        ReadEntries(directory).Select(e => ToExample(e, domain)).ToList();

    /// <summary>Every entry of every collection, languages and collections in ordinal name order, entries in file order.</summary>
    /// <exception cref="TrainingDataException">The directory does not exist.</exception>
    public static IReadOnlyList<FortuneEntry> ReadEntries(string directory = DefaultDirectory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new TrainingDataException(directory, null, "missing; install Debian's fortunes packages (apt-get install fortunes fortunes-de ...)");
        var entries = new List<FortuneEntry>();
        var languages = new SortedDictionary<string, string>(StringComparer.Ordinal) { [TopLanguage] = directory };
        foreach (var sub in new DirectoryInfo(directory).EnumerateDirectories())
            if (sub.LinkTarget is null && sub.Name != "off" && !sub.Name.StartsWith('.'))
                languages[sub.Name] = sub.FullName;
        foreach (var (language, path) in languages)
            foreach (var file in Collections(path))
                entries.AddRange(ReadCollection(file.FullName, language));
        return entries;
    }

    public static IReadOnlyList<FortuneEntry> ReadCollection(string path, string language)
    {
        ArgumentNullException.ThrowIfNull(language);
        using var reader = new StreamReader(path, Encoding.UTF8);
        var collection = Path.GetFileName(path);
        return Split(reader).Select(text => new FortuneEntry(language, collection, text)).ToList();
    }

    /// <summary>The entries of a collection, cleaned (see <see cref="Clean"/>); empty entries are dropped.</summary>
    public static IReadOnlyList<string> Split(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var entries = new List<string>();
        var current = new StringBuilder();
        while (reader.ReadLine() is { } line)
        {
            if (line.TrimEnd() == "%") // strfile wants exactly "%"; a few collections have "% " where one was meant
                Flush();
            else
                current.Append(line).Append('\n');
        }
        Flush();
        return entries;

        void Flush()
        {
            var text = Clean(current.ToString());
            if (text.Length > 0)
                entries.Add(text);
            current.Clear();
        }
    }

    /// <summary>
    /// Terminal markup out, text kept: overstrike pairs ("_\bx" underlines x) and ANSI escape sequences are removed,
    /// then other control characters except newline and tab; trailing spaces and surrounding blank lines go.
    /// </summary>
    public static string Clean(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = Overstrike().Replace(AnsiEscape().Replace(text, ""), "");
        var kept = new StringBuilder(text.Length);
        foreach (var c in text)
            if (c is '\n' or '\t' || !char.IsControl(c))
                kept.Append(c);
        var lines = kept.ToString().Split('\n').Select(l => l.TrimEnd());
        return string.Join('\n', lines).Trim('\n');
    }

    public static DomainExample ToExample(FortuneEntry entry, FortuneDomain domain)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var name = domain == FortuneDomain.Language ? entry.Language : $"{entry.Language}/{entry.Collection}";
        return new DomainExample(name, Instruction, "", entry.Text);
    }

    static IEnumerable<FileInfo> Collections(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles()
            .Where(f => f.LinkTarget is null && !f.Name.StartsWith('.') && f.Extension is not (".dat" or ".u8")
                && File.Exists(f.FullName + ".dat"))
            .OrderBy(f => f.Name, StringComparer.Ordinal);

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex AnsiEscape();

    [GeneratedRegex(@"[^\n]\x08")]
    private static partial Regex Overstrike();
}
