using Federated.Core.Runtime;
using Federated.Training.Data;
using Federated.Training.Models;
using static TorchSharp.torch;

namespace Federated.Training.Evaluation;

/// <summary>Mean next-token loss over all labelled tokens, and its perplexity exp(loss).</summary>
public sealed record EvaluationResult(double MeanLoss, long Tokens)
{
    public double Perplexity => Math.Exp(MeanLoss);
}

/// <summary>Held-out evaluation: token-weighted, so batches of different sizes count by their labelled tokens.</summary>
public static class Evaluator
{
    /// <param name="batches">Disposed after use.</param>
    public static EvaluationResult Evaluate(LlamaForCausalLM model, IEnumerable<TrainingBatch> batches) =>
        Total(NativeWork.Each(batches).Select(batch =>
        {
            using (batch) return Loss(model, batch);
        }));

    /// <summary>
    /// Each held-out set's <see cref="Evaluate"/> (batches of <paramref name="batchSize"/> in file order), the batches of all
    /// sets spread over copies of one model (<see cref="ModelCopies"/>): every result equals its set evaluated alone.
    /// </summary>
    public static IReadOnlyList<EvaluationResult> Evaluate(IReadOnlyList<LlamaForCausalLM> copies, IReadOnlyList<IReadOnlyList<TrainingExample>> sets,
        int batchSize, int padId)
    {
        var jobs = sets.SelectMany((set, k) => set.Chunk(batchSize).Select(chunk => (Set: k, Examples: chunk))).ToArray();
        var losses = new (float Loss, long Tokens)[jobs.Length];
        ModelCopies.ForEach(copies, Enumerable.Range(0, jobs.Length).ToArray(), (model, j) =>
        {
            TrainingBatch batch;
            using (NativeWork.Enter()) batch = TrainingBatch.Collate(jobs[j].Examples, padId);
            using (batch) losses[j] = Loss(model, batch);
        });
        return sets.Select((_, k) => Total(Enumerable.Range(0, jobs.Length).Where(j => jobs[j].Set == k).Select(j => losses[j]))).ToList();
    }

    /// <summary>The result of batches' <see cref="Loss"/>es, added in the order given (the order fixes the bits).</summary>
    public static EvaluationResult Total(IEnumerable<(float Loss, long Tokens)> batches)
    {
        double total = 0;
        long count = 0;
        foreach (var (loss, tokens) in batches)
        {
            total += loss;
            count += tokens;
        }
        if (count == 0) throw new ArgumentException("the evaluation data holds no labelled tokens");
        return new EvaluationResult(total / count, count);
    }

    /// <summary>One batch's summed next-token loss over its labelled tokens, and their number.</summary>
    public static (float Loss, long Tokens) Loss(LlamaForCausalLM model, TrainingBatch batch)
    {
        model.eval();
        using var _ = no_grad();
        var device = model.parameters().First().device;
        (float, long) result;
        using (NativeWork.Enter())
        using (var scope = NewDisposeScope())
        {
            var (inputIds, labels) = (batch.InputIds.to(device), batch.Labels.to(device));
            var logits = model.forward(inputIds);
            var predicted = logits.view(-1, logits.size(2)).to(float32);
            var targets = LlamaForCausalLM.NextTokenTargets(labels).view(-1);
            result = (nn.functional.cross_entropy(predicted, targets, ignore_index: LlamaForCausalLM.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>(),
                targets.ne(LlamaForCausalLM.IgnoreIndex).sum().item<long>());
        }
        UndisposedNativeObjects.Release();
        return result;
    }
}
