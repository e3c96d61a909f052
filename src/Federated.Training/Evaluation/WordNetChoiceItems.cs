using Federated.Training.Data;
using Federated.Training.Data.Corpora;

namespace Federated.Training.Evaluation;

/// <summary>
/// WordNet definition multiple choice, built from held-out definition examples (a partition's global hold-out, which no
/// client trains on; see <see cref="Partitioning.GlobalHeldOut"/>). Each sampled synset gives up to two items of
/// <see cref="Options"/> options:
/// word -> definition (the training prompt for the synset; the options are definitions) and definition -> word
/// (the prompt "Name the noun defined as follows." with the definition as input; the options are first words).
/// Distractors are other held-out synsets of the same domain (lexicographer file) and part of speech, so neither the
/// answer nor a distractor was trained on, that share no word with the answer's synset (another sense of the same word
/// would be a second right answer) and whose definition differs from the answer's; all options differ from each other
/// (ignoring case). A synset whose group cannot supply three such distractors yields no item in that direction.
/// Deterministic: all randomness (which synsets, which distractors, where the answer goes) comes from <c>new Random(seed)</c>
/// consumed in a fixed order over the examples in the order given.
/// </summary>
public static class WordNetChoiceItems
{
    public const int Options = 4;

    /// <param name="heldOut">Definition examples in <see cref="WordNetGlosses.ToExample"/>'s form; others are ignored.</param>
    /// <param name="maxSynsets">At most this many synsets are sampled (each gives one item per direction it can).</param>
    public static IReadOnlyList<ChoiceItem> Build(IReadOnlyList<DomainExample> heldOut, int seed, int maxSynsets)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        ArgumentOutOfRangeException.ThrowIfNegative(maxSynsets);
        var synsets = heldOut.Select(e => (Example: e, Definition: WordNetDefinition.FromExample(e)))
            .Where(s => s.Definition is not null)
            .Select(s => new Synset(s.Example, s.Definition!))
            .ToList();
        var groups = synsets.GroupBy(s => (s.Definition.Domain, s.Definition.PartOfSpeech)).ToDictionary(g => g.Key, g => g.ToArray());

        var random = new Random(seed);
        var order = Enumerable.Range(0, synsets.Count).ToArray();
        Shuffle(order, random);
        var items = new List<ChoiceItem>();
        var sampled = 0;
        foreach (var index in order)
        {
            if (sampled == maxSynsets)
                break;
            var synset = synsets[index];
            var group = groups[(synset.Definition.Domain, synset.Definition.PartOfSpeech)];
            var before = items.Count;
            foreach (var direction in Enum.GetValues<ChoiceDirection>())
                if (Item(synset, group, direction, random) is { } item)
                    items.Add(item);
            if (items.Count > before)
                sampled++;
        }
        return items;
    }

    /// <summary>The prompt of a definition -> word item.</summary>
    public static string DefinitionToWordPrompt(WordNetDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return PromptTemplate.Format(new InstructionRecord($"Name the {WordNetDefinition.Name(definition.PartOfSpeech)} defined as follows.", definition.Definition, ""));
    }

    sealed record Synset(DomainExample Example, WordNetDefinition Definition);

    static ChoiceItem? Item(Synset answer, Synset[] group, ChoiceDirection direction, Random random)
    {
        string OptionOf(Synset s) => direction == ChoiceDirection.WordToDefinition ? s.Definition.Definition : s.Definition.Word;

        var answerWords = answer.Definition.Words.Select(Normal).ToHashSet(StringComparer.Ordinal);
        var taken = new HashSet<string>(StringComparer.Ordinal) { Normal(OptionOf(answer)) };
        var distractors = new List<string>(Options - 1);
        // A lazy Fisher-Yates over the group: candidates come in a seeded random order until three are accepted.
        var candidates = Enumerable.Range(0, group.Length).ToArray();
        for (var drawn = 0; drawn < candidates.Length && distractors.Count < Options - 1; drawn++)
        {
            var pick = drawn + random.Next(candidates.Length - drawn);
            (candidates[drawn], candidates[pick]) = (candidates[pick], candidates[drawn]);
            var candidate = group[candidates[drawn]];
            if (ReferenceEquals(candidate, answer)
                || candidate.Definition.Words.Any(w => answerWords.Contains(Normal(w)))
                || Normal(candidate.Definition.Definition) == Normal(answer.Definition.Definition)
                || !taken.Add(Normal(OptionOf(candidate))))
                continue;
            distractors.Add(OptionOf(candidate));
        }
        if (distractors.Count < Options - 1)
            return null;
        var position = random.Next(Options);
        distractors.Insert(position, OptionOf(answer));
        var prompt = direction == ChoiceDirection.WordToDefinition
            ? PromptTemplate.Format(answer.Example.Record)
            : DefinitionToWordPrompt(answer.Definition);
        return new ChoiceItem(answer.Definition.Domain, direction, prompt, distractors, position);
    }

    static string Normal(string text) => text.Trim().ToLowerInvariant();

    static void Shuffle(int[] items, Random random)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
