using Federated.Training.Data.Corpora;
using Federated.Training.Evaluation;
using Federated.Training.Models;
using Federated.Training.Tests.Data.Corpora;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Evaluation;

public class ModelContinuationScorerTests
{
    static LlamaForCausalLM TinyModel() => LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 11);

    [Fact]
    public void A_continuations_log_likelihood_is_the_sum_of_its_tokens_log_probabilities_given_the_prompt()
    {
        using var model = TinyModel();
        var tokenizer = ByteLevelTokenizer.Instance;
        var scorer = new ModelContinuationScorer(model, tokenizer, batchSize: 4, maxTokens: 512);

        var scores = scorer.LogLikelihoods([new Continuation("Define: ", "cat"), new Continuation("A much longer prompt that pads the other row: ", "x")]);

        // By hand: log_softmax of the logits at each position before a continuation token, at that token.
        int[] ids = [ByteLevelTokenizer.Bos, .. tokenizer.Encode("Define: "), .. tokenizer.Encode("cat")];
        double expected;
        using (no_grad())
        using (var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length])))
        using (var logProbs = logits.log_softmax(-1))
        {
            expected = 0;
            for (var position = ids.Length - 3; position < ids.Length; position++)
                expected += logProbs[0, position - 1, ids[position]].item<float>();
        }
        Assert.Equal(expected, scores[0]!.Value, 4);
        Assert.True(scores[1] < 0);
    }

    [Fact]
    public void Continuations_of_one_prompt_packed_into_rows_score_as_each_would_alone()
    {
        using var model = TinyModel();
        var tokenizer = ByteLevelTokenizer.Instance;
        var scorer = new ModelContinuationScorer(model, tokenizer, batchSize: 3, maxTokens: 512);
        // Four options of one prompt (one packed row), a second prompt's pair, and 24 options of a third prompt: 40 + 24 x 31
        // tokens, more than a row takes, so it spreads over rows.
        const string item = "### Instruction:\nName the noun defined as follows.\n\n### Input:\na small domestic feline\n\n### Response:\n";
        List<Continuation> pairs = [new(item, "cat"), new(item, "dog"), new(item, "a much longer option"), new(item, "x"), new("Other: ", "pair")];
        pairs.AddRange(Enumerable.Range(0, 24).Select(i => new Continuation(new string('p', 39), $"option number {i:D2} of the long list")));

        var packed = scorer.LogLikelihoods(pairs);

        for (var i = 0; i < pairs.Count; i++)
            Assert.Equal(Alone(model, tokenizer, pairs[i]), packed[i]!.Value, 4);
        Assert.NotEqual(packed[0], packed[1]);
    }

    /// <summary>The reference: the pair alone in an unpacked causal forward, log_softmax read at the token before each continuation token.</summary>
    static double Alone(LlamaForCausalLM model, ITextTokenizer tokenizer, Continuation pair)
    {
        int[] prompt = [ByteLevelTokenizer.Bos, .. tokenizer.Encode(pair.Prompt)];
        int[] ids = [.. prompt, .. tokenizer.Encode(pair.Text)];
        using var _ = no_grad();
        using var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]));
        using var logProbs = logits.log_softmax(-1);
        double sum = 0;
        for (var position = prompt.Length; position < ids.Length; position++)
            sum += logProbs[0, position - 1, ids[position]].item<float>();
        return sum;
    }

    [Fact]
    public void Scores_do_not_depend_on_what_else_is_in_the_batch_and_a_pair_too_long_is_not_scored()
    {
        using var model = TinyModel();
        var alone = new ModelContinuationScorer(model, ByteLevelTokenizer.Instance, batchSize: 1, maxTokens: 40);
        var together = new ModelContinuationScorer(model, ByteLevelTokenizer.Instance, batchSize: 8, maxTokens: 40);
        Continuation[] pairs = [new("short", "a"), new("a somewhat longer prompt", " and text"), new("mid prompt", "xyz"), new(new string('p', 39), "q")];

        var a = alone.LogLikelihoods(pairs);
        var b = together.LogLikelihoods(pairs);

        for (var i = 0; i < 3; i++)
            Assert.Equal(a[i]!.Value, b[i]!.Value, 4);
        Assert.Null(a[3]); // BOS + 39 + 1 = 41 tokens > 40
    }

    [Fact]
    public void A_tiny_model_scores_held_out_WordNet_items_with_an_accuracy_inside_its_interval()
    {
        using var model = TinyModel();
        var examples = InstalledCorpora.Glosses.Where(e => e.Domain is "noun.food" or "verb.motion").ToList();
        var heldOut = Partitioning.GlobalHeldOut(examples, 1, 0.05);
        var items = WordNetChoiceItems.Build(heldOut, seed: 1, maxSynsets: 40);
        var scorer = new ModelContinuationScorer(model, ByteLevelTokenizer.Instance, batchSize: 16, ModelContinuationScorer.MaxTokens(model));

        var result = MultipleChoiceScorer.Evaluate(items, scorer);

        foreach (var direction in result.Directions)
        {
            Assert.Equal(40, direction.Accuracy.Trials + direction.Skipped);
            Assert.InRange(direction.Accuracy.Value, 0, 1);
            Assert.InRange(direction.Accuracy.Value, direction.Accuracy.Lower, direction.Accuracy.Upper);
            Assert.Equal(["noun.food", "verb.motion"], direction.ByDomain.Keys);
        }
    }
}
