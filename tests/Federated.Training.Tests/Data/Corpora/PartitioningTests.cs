using Federated.Training.Data.Corpora;

namespace Federated.Training.Tests.Data.Corpora;

/// <summary>Partitions of the real WordNet glosses (45 domains of very different sizes) and fortunes (4+ languages).</summary>
public class PartitioningTests
{
    static IReadOnlyList<DomainExample> Glosses => InstalledCorpora.Glosses;

    static readonly Lazy<IReadOnlyList<DomainExample>> LazyFortunes =
        new(() => InstalledCorpora.FortuneEntries.Select(e => Fortunes.ToExample(e, FortuneDomain.Language)).ToList());

    static FederatedPartition Partition(PartitionScheme scheme, int clients, int seed = 1, int? cap = null) =>
        Partitioning.Partition(Glosses, scheme, new PartitionOptions(clients, seed) { MaxExamplesPerClient = cap });

    static IEnumerable<DomainExample> Everything(FederatedPartition partition) =>
        partition.Clients.SelectMany(c => c.Train.Concat(c.Evaluation)).Concat(partition.GlobalHeldOut);

    // Shares of each domain in a list of examples, over the given domains.
    static double[] Mix(IReadOnlyList<DomainExample> examples, IReadOnlyList<string> domains)
    {
        var counts = examples.GroupBy(e => e.Domain).ToDictionary(g => g.Key, g => g.Count());
        return domains.Select(d => counts.GetValueOrDefault(d) / (double)examples.Count).ToArray();
    }

    static double TotalVariation(double[] p, double[] q) => p.Zip(q, (a, b) => Math.Abs(a - b)).Sum() / 2;

    static (double MeanMaxShare, double MeanDistanceToGlobal) MixStatistics(FederatedPartition partition)
    {
        var domains = WordNetLexicographerFiles.Names;
        var global = Mix(Glosses, domains);
        var mixes = partition.Clients.Select(c => Mix(c.Train, domains)).ToList();
        return (mixes.Average(m => m.Max()), mixes.Average(m => TotalVariation(m, global)));
    }

    public static TheoryData<string> Schemes => new() { "natural", "dirichlet:0.5", "iid" };

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Every_example_is_used_at_most_once_and_the_held_out_sets_are_disjoint_from_training(string scheme)
    {
        var partition = Partition(PartitionScheme.Parse(scheme), clients: 12, cap: 3_000);

        var used = Everything(partition).ToList();
        Assert.Equal(used.Count, used.Distinct(ReferenceEqualityComparer.Instance).Count());
        var training = partition.Clients.SelectMany(c => c.Train).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.DoesNotContain(partition.GlobalHeldOut, training.Contains);
        Assert.DoesNotContain(partition.Clients.SelectMany(c => c.Evaluation), training.Contains);
        Assert.All(partition.Clients, c => Assert.InRange(c.Train.Count + c.Evaluation.Count, 1, 3_000));
    }

    [Fact]
    public void Without_a_cap_the_clients_and_the_global_held_out_set_share_out_the_whole_corpus()
    {
        var partition = Partition(new PartitionScheme.Natural(), clients: 7);

        Assert.Equal(Glosses.Count, Everything(partition).Count());
    }

    [Fact]
    public void The_global_held_out_set_holds_a_fixed_fraction_of_every_domain()
    {
        var partition = Partition(new PartitionScheme.Iid(), clients: 4, cap: 100);

        var heldOut = partition.GlobalHeldOut.GroupBy(e => e.Domain).ToDictionary(g => g.Key, g => g.Count());
        foreach (var domain in Glosses.GroupBy(e => e.Domain))
            Assert.Equal(Math.Max(1, (int)Math.Round(domain.Count() * 0.05, MidpointRounding.AwayFromZero)), heldOut[domain.Key]);
    }

    [Fact]
    public void The_natural_partition_with_fewer_clients_than_domains_puts_each_domain_wholly_on_one_client()
    {
        var partition = Partition(new PartitionScheme.Natural(), clients: 10);

        var owners = partition.Clients
            .SelectMany(c => c.Train.Concat(c.Evaluation).Select(e => (e.Domain, c.Client)))
            .GroupBy(p => p.Domain)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Client).Distinct().Count());
        Assert.Equal(45, owners.Count);
        Assert.All(owners.Values, count => Assert.Equal(1, count));
        // Largest domain first onto the lightest client: sizes within a factor of the largest domain.
        var sizes = partition.Clients.Select(c => c.Train.Count).ToList();
        Assert.True(sizes.Min() > sizes.Max() / 3, string.Join(", ", sizes));
    }

    [Fact]
    public void The_natural_partition_with_more_clients_than_domains_splits_domains_and_gives_each_client_one()
    {
        var fortunes = LazyFortunes.Value;
        var languages = fortunes.Select(e => e.Domain).Distinct().Count();

        var partition = Partitioning.Partition(fortunes, new PartitionScheme.Natural(), new PartitionOptions(languages * 3, Seed: 4));

        Assert.All(partition.Clients, c => Assert.Single(c.Train.Concat(c.Evaluation).Select(e => e.Domain).Distinct()));
        var clientsPerLanguage = partition.Clients.GroupBy(c => c.Train[0].Domain).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(languages, clientsPerLanguage.Count);
        // Extra clients go where the examples per client are largest: the largest language gets the most clients.
        var largest = fortunes.GroupBy(e => e.Domain).MaxBy(g => g.Count())!.Key;
        Assert.Equal(clientsPerLanguage.Values.Max(), clientsPerLanguage[largest]);
    }

    [Fact]
    public void Each_client_evaluates_on_a_slice_of_its_own_data()
    {
        var partition = Partition(new PartitionScheme.Natural(), clients: 10, cap: 1_000);

        Assert.All(partition.Clients, c =>
        {
            Assert.Equal(100, c.Evaluation.Count);
            Assert.Equal(900, c.Train.Count);
            Assert.Subset(c.Train.Select(e => e.Domain).ToHashSet(), c.Evaluation.Select(e => e.Domain).ToHashSet());
        });
    }

    [Fact]
    public void Dirichlet_with_a_small_alpha_skews_the_client_mixes_and_a_large_alpha_approaches_the_global_mix()
    {
        var skewed = MixStatistics(Partition(new PartitionScheme.Dirichlet(0.1), clients: 20, cap: 1_000));
        var mild = MixStatistics(Partition(new PartitionScheme.Dirichlet(1.0), clients: 20, cap: 1_000));
        var nearIid = MixStatistics(Partition(new PartitionScheme.Dirichlet(1_000), clients: 20, cap: 1_000));
        var iid = MixStatistics(Partition(new PartitionScheme.Iid(), clients: 20, cap: 1_000));

        // The largest WordNet domain (adj.all) is 12% of the corpus, the max share of an IID client's mix
        // (measured with seed 1: alpha 0.1 gives 0.34, alpha 1 0.16, alpha 1000 0.13, IID 0.12).
        Assert.True(skewed.MeanMaxShare > 2 * iid.MeanMaxShare, $"alpha 0.1: mean max share {skewed.MeanMaxShare:F3} vs IID {iid.MeanMaxShare:F3}");
        Assert.True(skewed.MeanMaxShare > mild.MeanMaxShare && mild.MeanMaxShare > nearIid.MeanMaxShare);
        Assert.InRange(nearIid.MeanMaxShare, iid.MeanMaxShare - 0.03, iid.MeanMaxShare + 0.03);
        // Total variation distance from the global mix: most of the mass is elsewhere at alpha 0.1, sampling noise at 1000.
        Assert.True(skewed.MeanDistanceToGlobal > 0.5, $"alpha 0.1: mean distance {skewed.MeanDistanceToGlobal:F3}");
        Assert.True(nearIid.MeanDistanceToGlobal < 0.1, $"alpha 1000: mean distance {nearIid.MeanDistanceToGlobal:F3}");
        Assert.True(nearIid.MeanDistanceToGlobal < iid.MeanDistanceToGlobal + 0.02);
    }

    [Fact]
    public void Iid_clients_get_equal_shares_with_the_global_domain_mix()
    {
        var partition = Partition(new PartitionScheme.Iid(), clients: 8);

        var sizes = partition.Clients.Select(c => c.Train.Count + c.Evaluation.Count).ToList();
        Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(", ", sizes));
        Assert.True(MixStatistics(partition).MeanDistanceToGlobal < 0.03);
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void The_same_seed_gives_the_same_partition_and_another_seed_another(string scheme)
    {
        var parsed = PartitionScheme.Parse(scheme);
        var first = Partition(parsed, clients: 6, seed: 42, cap: 500);
        var again = Partition(parsed, clients: 6, seed: 42, cap: 500);
        var other = Partition(parsed, clients: 6, seed: 43, cap: 500);

        Assert.Equal(Everything(first), Everything(again));
        Assert.NotEqual(Everything(first), Everything(other));
    }

    [Theory]
    [InlineData("natural")]
    [InlineData("iid")]
    [InlineData("dirichlet:0.3")]
    [InlineData("dirichlet:100")]
    public void Schemes_are_written_as_they_are_parsed(string text)
    {
        Assert.Equal(text, PartitionScheme.Parse(text).ToString());
    }

    [Theory]
    [InlineData("dirichlet")]
    [InlineData("dirichlet:0")]
    [InlineData("dirichlet:-1")]
    [InlineData("shards")]
    public void An_unknown_scheme_or_a_non_positive_alpha_is_refused(string text)
    {
        Assert.Throws<FormatException>(() => PartitionScheme.Parse(text));
    }

    [Fact]
    public void More_clients_than_examples_are_refused()
    {
        DomainExample[] three = [new("a", "i", "", "1"), new("a", "i", "", "2"), new("b", "i", "", "3")];

        Assert.Throws<ArgumentException>(() => Partitioning.Partition(three, new PartitionScheme.Iid(), new PartitionOptions(3, 0)));
        Assert.Equal(2, Partitioning.Partition(three, new PartitionScheme.Iid(), new PartitionOptions(2, 0)).Clients.Count);
    }
}
