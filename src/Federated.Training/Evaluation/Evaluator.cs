using Federated.Core.Runtime;
using Federated.Training.Data;
using Federated.Training.Models;
using TorchSharp;
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
    public static EvaluationResult Evaluate(LlamaForCausalLM model, IEnumerable<TrainingBatch> batches)
    {
        model.eval();
        using var _ = no_grad();
        var device = model.parameters().First().device;
        double total = 0;
        long count = 0;
        using var ignored = ((long)LlamaForCausalLM.IgnoreIndex).ToScalar(); // held to the end of the calls (HeldScalars)
        foreach (var batch in NativeWork.Each(batches))
        {
            using (batch)
            using (NativeWork.Enter())
            using (var scope = NewDisposeScope())
            {
                var (inputIds, labels) = (batch.InputIds.to(device), batch.Labels.to(device));
                var logits = model.forward(inputIds);
                var predicted = logits.view(-1, logits.size(2)).to(float32);
                var targets = LlamaForCausalLM.NextTokenTargets(labels).view(-1);
                total += nn.functional.cross_entropy(predicted, targets, ignore_index: LlamaForCausalLM.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>();
                count += targets.ne(ignored).sum().item<long>();
            }
            UndisposedNativeObjects.Release();
        }
        if (count == 0) throw new ArgumentException("the evaluation data holds no labelled tokens");
        return new EvaluationResult(total / count, count);
    }

    /// <summary>
    /// The mean loss of each of several held-out sets under one model, in one pass: all their examples in length order,
    /// <paramref name="batchSize"/> a batch (little padding, few forward calls), each example's loss summed back to its
    /// set. The same token-weighted mean per set as <see cref="Evaluate"/> of that set alone, up to summation order.
    /// </summary>
    public static double[] MeanLosses(LlamaForCausalLM model, IReadOnlyList<IReadOnlyList<TrainingExample>> sets, int batchSize, int padId)
    {
        ArgumentNullException.ThrowIfNull(sets);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var pooled = sets.SelectMany((set, index) => set.Select(example => (Example: example, Set: index)))
            .OrderBy(e => e.Example.Length).ToArray();
        var (totals, counts) = (new double[sets.Count], new long[sets.Count]);
        model.eval();
        using var _ = no_grad();
        var device = model.parameters().First().device;
        using var ignored = ((long)LlamaForCausalLM.IgnoreIndex).ToScalar(); // held to the end of the calls (HeldScalars)
        foreach (var chunk in pooled.Chunk(batchSize))
        {
            using (NativeWork.Enter())
            using (var scope = NewDisposeScope())
            using (var batch = TrainingBatch.Collate(chunk.Select(e => e.Example).ToArray(), padId))
            {
                var logits = model.forward(batch.InputIds.to(device));
                var targets = LlamaForCausalLM.NextTokenTargets(batch.Labels.to(device));
                var nll = nn.functional.cross_entropy(logits.view(-1, logits.size(2)).to(float32), targets.view(-1),
                    ignore_index: LlamaForCausalLM.IgnoreIndex, reduction: nn.Reduction.None).view(targets.size(0), targets.size(1));
                var sums = nll.sum(1).to(float64).cpu().data<double>().ToArray();
                var tokens = targets.ne(ignored).sum(1).cpu().data<long>().ToArray();
                for (var row = 0; row < chunk.Length; row++)
                {
                    totals[chunk[row].Set] += sums[row];
                    counts[chunk[row].Set] += tokens[row];
                }
            }
            UndisposedNativeObjects.Release();
        }
        return [.. totals.Select((total, set) => counts[set] > 0 ? total / counts[set]
            : throw new ArgumentException($"held-out set {set} holds no labelled tokens"))];
    }
}
