using Federated.Training.Data;
using Federated.Training.Data.Corpora;

namespace Federated.Training.Tests.Data.Corpora;

public class WordNetGlossesTests
{
    static IReadOnlyList<WordNetSynset> Synsets => InstalledCorpora.Synsets;

    static WordNetSynset Synset(PartOfSpeech partOfSpeech, long offset) =>
        Synsets.Single(s => s.PartOfSpeech == partOfSpeech && s.Offset == offset);

    [Fact]
    public void All_synsets_of_WordNet_3_0_are_read_with_the_published_counts_per_part_of_speech()
    {
        var counts = Synsets.GroupBy(s => s.PartOfSpeech).ToDictionary(g => g.Key, g => g.Count());

        // WordNet 3.0's own statistics (wnstats(7WN)): 82,115 + 13,767 + 18,156 + 3,621 = 117,659 synsets.
        Assert.Equal(82_115, counts[PartOfSpeech.Noun]);
        Assert.Equal(13_767, counts[PartOfSpeech.Verb]);
        Assert.Equal(18_156, counts[PartOfSpeech.Adjective]);
        Assert.Equal(3_621, counts[PartOfSpeech.Adverb]);
        Assert.Equal(117_659, InstalledCorpora.Glosses.Count);
    }

    [Fact]
    public void Every_one_of_the_45_lexicographer_files_is_the_domain_of_some_synset()
    {
        var domains = InstalledCorpora.Glosses.Select(e => e.Domain).ToHashSet();

        Assert.Equal(45, WordNetLexicographerFiles.Names.Count);
        Assert.Equal(WordNetLexicographerFiles.Names.ToHashSet(), domains);
    }

    [Fact]
    public void Each_lexicographer_file_name_matches_the_part_of_speech_of_its_synsets()
    {
        // The data's own ss_type checks the written-out list: a shifted name would land nouns in verb.* files.
        foreach (var synset in Synsets)
        {
            var prefix = synset.PartOfSpeech switch
            {
                PartOfSpeech.Noun => "noun.",
                PartOfSpeech.Verb => "verb.",
                PartOfSpeech.Adjective => "adj.",
                _ => "adv.",
            };
            Assert.StartsWith(prefix, synset.Domain, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_noun_dog_has_its_synonyms_domain_definition_and_example()
    {
        var dog = Synset(PartOfSpeech.Noun, 2084071);

        Assert.Equal(["dog", "domestic dog", "Canis familiaris"], dog.Words);
        Assert.Equal("noun.animal", dog.Domain);
        Assert.Equal(
            "a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds",
            dog.Definition);
        Assert.Equal(["the dog barked all night"], dog.Examples);
    }

    [Fact]
    public void The_definition_example_names_the_part_of_speech_and_lists_the_synonyms()
    {
        var example = WordNetGlosses.ToExample(Synset(PartOfSpeech.Noun, 2084071));

        Assert.Equal("noun.animal", example.Domain);
        Assert.Equal("Define the noun.", example.Instruction);
        Assert.Equal("dog (also: domestic dog, Canis familiaris)", example.Input);
        Assert.StartsWith("a member of the genus Canis", example.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Satellite_adjectives_count_as_adjectives_and_lose_their_position_markers()
    {
        // data.adj: "00014358 00 s 02 abounding 0 galore(ip) 0 ... | existing in abundance; "abounding confidence"; ..."
        var abounding = Synset(PartOfSpeech.Adjective, 14358);

        Assert.Equal(["abounding", "galore"], abounding.Words);
        Assert.Equal("adj.all", abounding.Domain);
        Assert.Equal("existing in abundance", abounding.Definition);
        Assert.Equal(["abounding confidence", "whiskey galore"], abounding.Examples);
        Assert.DoesNotContain(Synsets.SelectMany(s => s.Words), w => w.EndsWith("(p)", StringComparison.Ordinal) || w.Contains('_'));
    }

    [Fact]
    public void No_definition_is_empty_or_keeps_an_example_sentence()
    {
        Assert.All(InstalledCorpora.Glosses, e => Assert.NotEmpty(e.Output));
        // 18 of WordNet's glosses quote inside the definition itself ("the phrase "make strides""); none starts an example.
        Assert.InRange(Synsets.Count(s => s.Definition.Contains('"')), 1, 30);
        Assert.DoesNotContain(Synsets, s => s.Definition.Contains("; \"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("to be a menacing indication of something:\"The clouds threaten rain\"; \"Danger threatens\"  ",
        "to be a menacing indication of something", new[] { "The clouds threaten rain", "Danger threatens" })]
    [InlineData("restrict or confine, \"I limit you to two visits to the pub a day\"",
        "restrict or confine", new[] { "I limit you to two visits to the pub a day" })]
    [InlineData("significant progress (especially in the phrase \"make strides\"); \"they made big strides in productivity\"",
        "significant progress (especially in the phrase \"make strides\")", new[] { "they made big strides in productivity" })]
    [InlineData("a large body of water", "a large body of water", new string[0])]
    public void Example_sentences_after_a_semicolon_colon_or_comma_are_split_from_the_definition(
        string gloss, string definition, string[] examples)
    {
        var (actualDefinition, actualExamples) = WordNetGlosses.SplitGloss(gloss);

        Assert.Equal(definition, actualDefinition);
        Assert.Equal(examples, actualExamples);
    }

    [Fact]
    public void License_lines_are_skipped_and_a_malformed_line_names_its_file_and_line()
    {
        Assert.Null(WordNetGlosses.ParseLine("  1 This software and database is being provided to you  ", "data.noun", 1));

        var error = Assert.Throws<TrainingDataException>(() => WordNetGlosses.ParseLine("00001740 03 x 01 entity 0 | gloss", "data.noun", 30));

        Assert.Equal("data.noun:30: not a WordNet synset: unknown ss_type 'x'", error.Message);
        Assert.Throws<TrainingDataException>(() => WordNetGlosses.ParseLine("00001740 03 n 01 entity 0 000 no gloss", "data.noun", 31));
    }

    [Fact]
    public void A_missing_data_directory_says_which_package_to_install()
    {
        using var dir = new TempDirectory();

        var error = Assert.Throws<TrainingDataException>(() => WordNetGlosses.Read(dir.Path));

        Assert.Contains("wordnet-base", error.Message, StringComparison.Ordinal);
    }
}
