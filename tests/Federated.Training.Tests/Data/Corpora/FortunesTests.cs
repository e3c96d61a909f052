using System.Buffers.Binary;
using Federated.Training.Data;
using Federated.Training.Data.Corpora;

namespace Federated.Training.Tests.Data.Corpora;

public class FortunesTests
{
    static IReadOnlyList<FortuneEntry> Entries => InstalledCorpora.FortuneEntries;

    // strfile(1)'s index header: big-endian uint32 version, then the number of entries.
    static int StrfileCount(string collection) =>
        (int)BinaryPrimitives.ReadUInt32BigEndian(File.ReadAllBytes(collection + ".dat").AsSpan(4, 4));

    static string CollectionPath(FortuneEntry entry) => entry.Language == Fortunes.TopLanguage
        ? Path.Combine(Fortunes.DefaultDirectory, entry.Collection)
        : Path.Combine(Fortunes.DefaultDirectory, entry.Language, entry.Collection);

    [Fact]
    public void English_is_at_the_top_and_each_language_package_adds_its_own_language()
    {
        var languages = Entries.Select(e => e.Language).ToHashSet();

        Assert.Superset(new HashSet<string> { "en", "de", "es", "it" }, languages);
        Assert.DoesNotContain("off", languages);
        Assert.All(new[] { "en", "de", "es", "it" }, l => Assert.True(Entries.Count(e => e.Language == l) > 400, l));
    }

    [Fact]
    public void Entry_counts_agree_with_the_strfile_indexes_debian_ships()
    {
        var byCollection = Entries.GroupBy(CollectionPath).ToList();

        Assert.True(byCollection.Count > 80, $"{byCollection.Count} collections");
        // strfile only splits at exactly "%"; a handful of collections have "% " lines where a split was meant.
        var differing = byCollection.Where(g => g.Count() != StrfileCount(g.Key)).ToList();
        Assert.True(differing.Count <= 5, string.Join(", ", differing.Select(g => $"{g.Key}: {g.Count()} vs {StrfileCount(g.Key)}")));
        Assert.All(differing, g => Assert.InRange(g.Count() - StrfileCount(g.Key), -2, 2));
    }

    [Fact]
    public void Links_at_the_top_into_the_italian_collections_are_not_counted_as_english()
    {
        // /usr/share/games/fortunes/zuse is a link to it/zuse.
        Assert.Contains(Entries, e => e.Language == "it" && e.Collection == "zuse");
        Assert.DoesNotContain(Entries, e => e.Language == "en" && e.Collection == "zuse");
        Assert.All(Entries.Select(CollectionPath).Distinct(), path => Assert.Null(new FileInfo(path).LinkTarget));
    }

    [Fact]
    public void Files_without_a_strfile_index_are_not_collections()
    {
        // fortunes-de ships recipes (de/brot) for its own scripts, with no .dat: fortune(6) does not read them either.
        Assert.DoesNotContain(Entries, e => e.Collection is "brot" or "channel-debian.fortunes");
        Assert.Contains(Entries, e => e.Language == "de" && e.Collection == "witze");
    }

    [Fact]
    public void Entries_are_clean_text_in_utf8()
    {
        Assert.All(Entries, e =>
        {
            Assert.NotEmpty(e.Text);
            Assert.DoesNotContain(e.Text.Split('\n'), line => line == "%");
            Assert.DoesNotContain(e.Text, c => char.IsControl(c) && c is not ('\n' or '\t'));
        });
        Assert.Contains(Entries, e => e.Language == "de" && e.Text.Contains('ü'));
        Assert.Contains(Entries, e => e.Language == "es" && e.Text.Contains('ñ'));
    }

    [Fact]
    public void Entries_are_separated_by_percent_lines_and_empty_ones_are_dropped()
    {
        var text = "First.\n  -- Someone\n%\n%\nSecond\nline   \n% \n\n\n%\nThird.\n";

        Assert.Equal(["First.\n  -- Someone", "Second\nline", "Third."], Fortunes.Split(new StringReader(text)));
    }

    [Fact]
    public void Overstrike_and_terminal_escapes_are_removed_and_the_text_kept()
    {
        Assert.Equal("bold and underlined, red", Fortunes.Clean("b\bbo\bol\bld\bd and _\bu_\bnderlined, \u001b[31mred\u001b[0m\a"));
    }

    [Fact]
    public void Examples_ask_for_a_fortune_and_are_tagged_by_language_or_collection()
    {
        var entry = new FortuneEntry("de", "witze", "Treffen sich zwei Jäger.");

        Assert.Equal(new DomainExample("de", "Tell me a fortune.", "", "Treffen sich zwei Jäger."), Fortunes.ToExample(entry, FortuneDomain.Language));
        Assert.Equal("de/witze", Fortunes.ToExample(entry, FortuneDomain.Collection).Domain);
    }

    [Fact]
    public void A_missing_directory_says_which_packages_to_install()
    {
        var error = Assert.Throws<TrainingDataException>(() => Fortunes.ReadEntries("/nonexistent/fortunes"));

        Assert.Contains("fortunes", error.Message, StringComparison.Ordinal);
    }
}
