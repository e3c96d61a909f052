using Federated.Training.Data.Corpora;

namespace Federated.Training.Tests.Data.Corpora;

/// <summary>
/// The Debian corpora (wordnet-base, fortunes, fortunes-de/-es/-it, installed by deploy/test.sh), each read once per
/// test run and shared by the test classes.
/// </summary>
static class InstalledCorpora
{
    static readonly Lazy<IReadOnlyList<WordNetSynset>> LazySynsets = new(() => WordNetGlosses.ReadSynsets().ToList());
    static readonly Lazy<IReadOnlyList<DomainExample>> LazyGlosses = new(() => WordNetGlosses.Read());
    static readonly Lazy<IReadOnlyList<FortuneEntry>> LazyFortunes = new(() => Fortunes.ReadEntries());

    public static IReadOnlyList<WordNetSynset> Synsets => LazySynsets.Value;

    public static IReadOnlyList<DomainExample> Glosses => LazyGlosses.Value;

    public static IReadOnlyList<FortuneEntry> FortuneEntries => LazyFortunes.Value;
}
