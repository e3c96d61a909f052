using Federated.Core.Runtime;
using Federated.Training.Data;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using static TorchSharp.torch;

namespace Federated.Training.Evaluation;

/// <summary>
/// A causal LM's log-likelihood of continuations: each pair becomes <c>bos + prompt + continuation</c>, prompt and
/// continuation tokenized separately as <see cref="InstructionDataset"/> does for training, and the log-probabilities of
/// the continuation's tokens are summed. Sequences are batched in length order (less padding); a pair longer than
/// <c>maxTokens</c> is not scored (null), never cut, since a cut option would be a different option.
/// </summary>
public sealed class ModelContinuationScorer(LlamaForCausalLM model, ITextTokenizer tokenizer, int batchSize, int maxTokens) : IContinuationScorer
{
    /// <summary>At most the model's position table: what it can attend over at all.</summary>
    public static int MaxTokens(LlamaForCausalLM model, int? limit = null) =>
        Math.Min(model.Config.MaxPositionEmbeddings, limit ?? int.MaxValue);

    public IReadOnlyList<double?> LogLikelihoods(IReadOnlyList<Continuation> continuations)
    {
        ArgumentNullException.ThrowIfNull(continuations);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var examples = continuations.Select(Encode).ToArray();
        var results = new double?[continuations.Count];
        var order = Enumerable.Range(0, examples.Length).Where(i => examples[i] is not null).OrderBy(i => examples[i]!.Length).ToArray();
        model.eval();
        using var _ = no_grad();
        var device = model.parameters().First().device;
        var padId = tokenizer.PadId ?? tokenizer.EosId ?? 0;
        foreach (var chunk in order.Chunk(batchSize))
        {
            using (NativeWork.Enter())
            using (var scope = NewDisposeScope())
            using (var batch = TrainingBatch.Collate(chunk.Select(i => examples[i]!).ToArray(), padId))
            {
                var logits = model.forward(batch.InputIds.to(device)).to(float32);
                var targets = LlamaForCausalLM.NextTokenTargets(batch.Labels.to(device));
                // Cross-entropy is -log p of each target; ignored positions (prompt, padding) contribute 0.
                var nll = nn.functional.cross_entropy(logits.view(-1, logits.size(2)), targets.view(-1),
                    ignore_index: LlamaForCausalLM.IgnoreIndex, reduction: nn.Reduction.None).view(targets.size(0), targets.size(1));
                var sums = nll.sum(1).to(float64).cpu().data<double>().ToArray();
                for (var row = 0; row < chunk.Length; row++)
                    results[chunk[row]] = -sums[row];
            }
            UndisposedNativeObjects.Release();
        }
        return results;
    }

    TrainingExample? Encode(Continuation continuation)
    {
        var context = new List<int>();
        if (tokenizer.BosId is { } bos)
            context.Add(bos);
        context.AddRange(tokenizer.Encode(continuation.Prompt));
        var target = tokenizer.Encode(continuation.Text);
        if (target.Count == 0 || context.Count + target.Count > maxTokens)
            return null;
        var labels = Enumerable.Repeat(TrainingExample.IgnoreIndex, context.Count).Concat(target).ToArray();
        return new TrainingExample(context.Concat(target).ToArray(), labels);
    }
}
