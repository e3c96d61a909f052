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
