using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Models;
using Federated.Training.Tests.Training;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Evaluation;

public class EvaluatorTests
{
    [Fact]
    public void Several_sets_evaluated_in_one_length_ordered_pass_have_the_losses_each_has_alone()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 3);
        var chunks = LocalTrainerTests.Split().HeldOut;
        // Lengths 6..63 and half of each example's labels ignored, so padding and token weights differ across batches.
        TrainingExample Cut(int i)
        {
            var ids = chunks[i % chunks.Count].InputIds.Take(6 + i * 13 % 58).ToArray();
            return new TrainingExample(ids, ids.Select((id, t) => t < ids.Length / 2 ? TrainingExample.IgnoreIndex : id).ToArray());
        }
        IReadOnlyList<TrainingExample>[] sets = [[.. Enumerable.Range(0, 23).Select(Cut)], [.. Enumerable.Range(23, 5).Select(Cut)], [Cut(40)]];

        var together = Evaluator.MeanLosses(model, sets, batchSize: 4, ByteLevelTokenizer.Pad);

        for (var set = 0; set < sets.Length; set++)
        {
            var alone = Evaluator.Evaluate(model, TrainingBatcher.Batches(sets[set], 4, ByteLevelTokenizer.Pad, seed: null)).MeanLoss;
            Assert.Equal(alone, together[set], 5);
        }
        Assert.NotEqual(together[0], together[1]);
    }

    [Fact]
    public void A_set_without_labelled_tokens_is_refused()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 3);
        IReadOnlyList<TrainingExample>[] sets = [[TrainingExample.Unmasked([1, 2, 3])], [new TrainingExample([1, 2], [TrainingExample.IgnoreIndex, TrainingExample.IgnoreIndex])]];

        var error = Assert.Throws<ArgumentException>(() => Evaluator.MeanLosses(model, sets, batchSize: 2, ByteLevelTokenizer.Pad));
        Assert.Contains("set 1", error.Message);
    }
}
