using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace Federated.Simulator.BaseModel;

/// <summary>One Debian package's text in the corpus, with its licence as the package records it.</summary>
public sealed record CorpusSource(string Name, string Package, string Licence, string Path, int Documents, long Bytes);

/// <summary>
/// Real English text nobody in this project wrote, from Debian packages, as documents: the GNU Collaborative International
/// Dictionary of English (dict-gcide, 1913 Webster plus later additions) entry by entry, and the English fortune
/// collections (fortunes, fortunes-min) fortune by fortune. Every <c>heldOutEvery</c>-th document (in a fixed order) is
/// held out. GCIDE entries that quote WordNet are left out: the experiments' task is WordNet definitions, and the base
/// must not have read them.
/// </summary>
public sealed partial record PretrainingCorpus(IReadOnlyList<string> Train, IReadOnlyList<string> HeldOut, IReadOnlyList<CorpusSource> Sources)
{
    public const string GcidePath = "/usr/share/dictd/gcide.dict.dz", FortunesDirectory = "/usr/share/games/fortunes";
    public const string Packages = "dict-gcide fortunes fortunes-min";

    /// <exception cref="FileNotFoundException">A package is not installed; the message names the apt-get command.</exception>
    public static PretrainingCorpus Load(int heldOutEvery = 100)
    {
        var sources = new List<(CorpusSource Source, List<string> Documents)>
        {
            Read("gcide", "dict-gcide", "GPL-3+ (/usr/share/doc/dict-gcide/copyright)", GcidePath, GcideEntries),
            Read("fortunes", "fortunes, fortunes-min", "BSD (fortune-mod; /usr/share/doc/fortunes/copyright)", FortunesDirectory, Fortunes),
        };
        var train = new List<string>();
        var heldOut = new List<string>();
        int index = 0;
        foreach (var document in sources.SelectMany(s => s.Documents))
            (index++ % heldOutEvery == heldOutEvery - 1 ? heldOut : train).Add(document);
        return new PretrainingCorpus(train, heldOut, sources.Select(s => s.Source).ToList());
    }

    static (CorpusSource, List<string>) Read(string name, string package, string licence, string path, Func<string, IEnumerable<string>> documents)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new FileNotFoundException($"{path} is missing: install the corpus with 'apt-get install -y {Packages}'", path);
        var list = documents(path).Where(d => d.Length > 0).ToList();
        return (new CorpusSource(name, package, licence, path, list.Count, list.Sum(d => (long)Encoding.UTF8.GetByteCount(d))), list);
    }

    /// <summary>dictd entries: a headword line at column 0, its definitions indented below; source tags on lines of their own are dropped.</summary>
    static IEnumerable<string> GcideEntries(string path)
    {
        using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress), Encoding.UTF8);
        var entry = new StringBuilder();
        bool wordNet = false;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]) && entry.Length > 0)
            {
                if (!wordNet) yield return entry.ToString().TrimEnd();
                entry.Clear();
                wordNet = false;
            }
            if (line.Contains("[WordNet", StringComparison.Ordinal)) wordNet = true;
            if (SourceTag().IsMatch(line) || line.StartsWith("00-database", StringComparison.Ordinal)) continue;
            entry.Append(line.Trim()).Append('\n');
        }
        if (entry.Length > 0 && !wordNet) yield return entry.ToString().TrimEnd();
    }

    /// <summary>The UTF-8 (<c>.u8</c>) English collections; fortunes are separated by lines holding only '%'.</summary>
    static IEnumerable<string> Fortunes(string directory)
    {
        foreach (var file in Directory.GetFiles(directory, "*.u8").Order(StringComparer.Ordinal))
        {
            var fortune = new StringBuilder();
            foreach (var line in File.ReadLines(file, Encoding.UTF8))
            {
                if (line == "%")
                {
                    yield return fortune.ToString().Trim();
                    fortune.Clear();
                }
                else fortune.Append(line).Append('\n');
            }
            if (fortune.Length > 0) yield return fortune.ToString().Trim();
        }
    }

    [GeneratedRegex(@"^\s*\[[^\]]*\]\s*$")]
    private static partial Regex SourceTag();
}
