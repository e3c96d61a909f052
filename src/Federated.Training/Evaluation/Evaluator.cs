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
}
