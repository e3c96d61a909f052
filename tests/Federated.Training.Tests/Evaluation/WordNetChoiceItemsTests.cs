using Federated.Training.Data;
using Federated.Training.Data.Corpora;
using Federated.Training.Evaluation;
using Federated.Training.Tests.Data.Corpora;

namespace Federated.Training.Tests.Evaluation;

public class WordNetChoiceItemsTests
{
    static readonly string[] Domains = ["noun.animal", "noun.food", "verb.motion", "adj.all", "noun.motive"];

    static IReadOnlyList<DomainExample> Corpus => InstalledCorpora.Glosses.Where(e => Domains.Contains(e.Domain)).ToList();

    static IReadOnlyList<DomainExample> HeldOut(int seed) =>
        Partitioning.GlobalHeldOut(Corpus, seed, new PartitionOptions(1, seed).GlobalHeldOutFraction);

    [Fact]
    public void The_held_out_synsets_are_the_simulators_global_hold_out_which_no_client_trains_or_evaluates_on()
    {
        var partition = Partitioning.Partition(Corpus, new PartitionScheme.Natural(), new PartitionOptions(4, 3));

        var heldOut = Partitioning.GlobalHeldOut(Corpus, 3, partition.Options.GlobalHeldOutFraction);

        Assert.Equal(partition.GlobalHeldOut, heldOut); // the same examples in the same order: one split, not two
        var clientSeen = partition.Clients.SelectMany(c => c.Train.Concat(c.Evaluation)).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.DoesNotContain(heldOut, e => clientSeen.Contains(e));
    }

    [Fact]
    public void Distractors_come_from_held_out_synsets_of_the_same_domain_and_part_of_speech_and_never_equal_the_answer()
    {
        var heldOut = HeldOut(1);
        var definitions = heldOut.Select(e => (Example: e, Definition: WordNetDefinition.FromExample(e)!)).ToList();
        // Every prompt leads back to its answer's synset (two senses can share their words, hence a prompt, so the answer decides).
        var byPrompt = definitions.Select(d => (Prompt: PromptTemplate.Format(d.Example.Record), d.Definition))
            .Concat(definitions.Select(d => (Prompt: WordNetChoiceItems.DefinitionToWordPrompt(d.Definition), d.Definition)))
            .ToLookup(p => p.Prompt, p => p.Definition);

        var items = WordNetChoiceItems.Build(heldOut, seed: 1, maxSynsets: 400);

        Assert.Equal(800, items.Count); // every sampled synset of these large domains yields both directions
        foreach (var item in items)
        {
            string OptionOf(WordNetDefinition d) => item.Direction == ChoiceDirection.WordToDefinition ? d.Definition : d.Word;
            var answer = Assert.Single(byPrompt[item.Prompt], d => OptionOf(d) == item.CorrectOption);
            Assert.Equal(answer.Domain, item.Domain);
            Assert.Equal(WordNetChoiceItems.Options, item.Options.Count);
            Assert.Equal(item.Options.Count, item.Options.Select(o => o.ToLowerInvariant()).Distinct().Count());
            foreach (var distractor in item.Options.Where((_, i) => i != item.Answer))
            {
                Assert.NotEqual(item.CorrectOption, distractor, StringComparer.OrdinalIgnoreCase);
                // Some held-out synset of the answer's domain and part of speech, sharing no word with it, has this option.
                Assert.Contains(definitions, d => d.Definition.Domain == answer.Domain && d.Definition.PartOfSpeech == answer.PartOfSpeech
                    && OptionOf(d.Definition) == distractor
                    && !d.Definition.Words.Intersect(answer.Words, StringComparer.OrdinalIgnoreCase).Any());
                if (item.Direction == ChoiceDirection.DefinitionToWord)
                    Assert.DoesNotContain(distractor, answer.Words, StringComparer.OrdinalIgnoreCase);
            }
        }
        // The answer's position is drawn, not fixed.
        Assert.Equal(4, items.Select(i => i.Answer).Distinct().Count());
    }

    [Fact]
    public void A_domain_too_small_to_supply_three_distractors_yields_no_items()
    {
        // noun.motive has 42 synsets: its 5% hold-out is 2, too few for four options.
        var heldOut = HeldOut(1);
        Assert.InRange(heldOut.Count(e => e.Domain == "noun.motive"), 1, 3);

        var items = WordNetChoiceItems.Build(heldOut, seed: 1, maxSynsets: heldOut.Count);

        Assert.DoesNotContain(items, i => i.Domain == "noun.motive");
        Assert.Contains(items, i => i.Domain == "verb.motion");
    }

    [Fact]
    public void The_same_seed_gives_the_same_items_and_another_seed_other_items()
    {
        var heldOut = HeldOut(1);

        var first = WordNetChoiceItems.Build(heldOut, seed: 5, maxSynsets: 50);
        var again = WordNetChoiceItems.Build(heldOut, seed: 5, maxSynsets: 50);
        var other = WordNetChoiceItems.Build(heldOut, seed: 6, maxSynsets: 50);

        Assert.Equal(Describe(first), Describe(again));
        Assert.NotEqual(Describe(first), Describe(other));

        static string[] Describe(IReadOnlyList<ChoiceItem> items) =>
            items.Select(i => $"{i.Direction}|{i.Prompt}|{string.Join("|", i.Options)}|{i.Answer}").ToArray();
    }

    [Fact]
    public void A_definition_example_reads_back_as_its_synset()
    {
        foreach (var synset in InstalledCorpora.Synsets.Where((s, i) => s.Definition.Length > 0 && i % 40 == 0))
        {
            var read = WordNetDefinition.FromExample(WordNetGlosses.ToExample(synset));

            Assert.NotNull(read);
            Assert.Equal((synset.Domain, synset.PartOfSpeech, synset.Definition), (read.Domain, read.PartOfSpeech, read.Definition));
            Assert.Equal(synset.Words, read.Words);
        }
        Assert.Null(WordNetDefinition.FromExample(new DomainExample("en", "Tell me a fortune.", "", "A fortune.")));
    }
}
