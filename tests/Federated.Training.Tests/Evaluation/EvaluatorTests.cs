using Federated.Training.Data;
using Federated.Training.Evaluation;
using Federated.Training.Models;

namespace Federated.Training.Tests.Evaluation;

public class EvaluatorTests
{
    static LlamaForCausalLM TinyModel() => LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 12);

    static IReadOnlyList<TrainingExample> Set(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int length = random.Next(4, 30), prompt = random.Next(1, length - 1);
            var ids = Enumerable.Range(0, length).Select(_ => random.Next(0, 256)).ToArray();
            return new TrainingExample(ids, ids.Select((id, i) => i < prompt ? TrainingExample.IgnoreIndex : id).ToArray());
        }).ToList();
    }

    [Fact]
    public void Held_out_sets_evaluated_together_on_two_copies_equal_each_set_evaluated_alone_bit_for_bit()
    {
        using var model = TinyModel();
        using var copy = TinyModel();
        IReadOnlyList<TrainingExample>[] sets = [Set(23, 1), Set(5, 2), Set(1, 3), Set(9, 4)];

        var together = Evaluator.Evaluate([model, copy], sets, batchSize: 4, padId: 258);

        Assert.Equal(sets.Length, together.Count);
        for (int k = 0; k < sets.Length; k++)
            Assert.Equal(Evaluator.Evaluate(model, TrainingBatcher.Batches(sets[k], 4, padId: 258, seed: null)), together[k]);
    }

    [Fact]
    public void A_set_without_labelled_tokens_is_refused()
    {
        using var model = TinyModel();
        var unlabelled = new TrainingExample([1, 2, 3], [TrainingExample.IgnoreIndex, TrainingExample.IgnoreIndex, TrainingExample.IgnoreIndex]);
        var e = Assert.Throws<ArgumentException>(() => Evaluator.Evaluate([model], [Set(3, 5), [unlabelled]], batchSize: 2, padId: 258));
        Assert.Contains("no labelled tokens", e.Message);
    }
}
