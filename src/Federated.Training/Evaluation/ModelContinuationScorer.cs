using Federated.Core.Runtime;
using Federated.Training.Data;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using static TorchSharp.torch;

namespace Federated.Training.Evaluation;

/// <summary>
/// A causal LM's log-likelihood of continuations: each pair is read as <c>bos + prompt + continuation</c>, prompt and
/// continuation tokenized separately as <see cref="InstructionDataset"/> does for training, and the log-probabilities of
/// the continuation's tokens are summed. Continuations of one prompt (a multiple-choice item's options) share a packed
/// row: the prompt once, then each continuation at the positions it would have alone, attending to the prompt and to
/// itself only (<see cref="PackedLayout"/>), so the prompt is computed once instead of once per option. Rows are batched
/// in length order (less padding), <c>batchSize</c> continuations a batch; a pair longer than <c>maxTokens</c> is not
/// scored (null), never cut, since a cut option would be a different option.
/// </summary>
public sealed class ModelContinuationScorer(LlamaForCausalLM model, ITextTokenizer tokenizer, int batchSize, int maxTokens) : IContinuationScorer
{
    /// <summary>
    /// A packed row takes continuations of its prompt while it stays this long (or holds one): attention's memory grows with
    /// the square of a row's length.
    /// </summary>
    const int RowTokens = 512;

    /// <summary>At most the model's position table: what it can attend over at all.</summary>
    public static int MaxTokens(LlamaForCausalLM model, int? limit = null) =>
        Math.Min(model.Config.MaxPositionEmbeddings, limit ?? int.MaxValue);

    public IReadOnlyList<double?> LogLikelihoods(IReadOnlyList<Continuation> continuations)
    {
        ArgumentNullException.ThrowIfNull(continuations);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var results = new double?[continuations.Count];
        var rows = Pack(continuations).OrderBy(r => r.Length).ToList();
        model.eval();
        using var _ = no_grad();
        var device = model.parameters().First().device;
        var padId = tokenizer.PadId ?? tokenizer.EosId ?? 0;
        foreach (var chunk in Batches(rows))
        {
            using (NativeWork.Enter())
            using (var scope = NewDisposeScope())
            {
                var (inputIds, layout) = Collate(chunk, padId);
                var logProbs = model.forward(inputIds.to(device), layout).to(float32).log_softmax(-1);
                // Each scored token's log-probability, read at the position that predicts it.
                var (before, tokens, owners) = Targets(chunk, logProbs.size(1));
                var picked = logProbs.view(-1, logProbs.size(2)).index_select(0, tensor(before).to(device))
                    .gather(1, tensor(tokens).to(device).unsqueeze(1)).to(float64).cpu().data<double>().ToArray();
                foreach (var segment in chunk.SelectMany(r => r.Segments))
                    results[segment.Owner] = 0;
                for (var i = 0; i < picked.Length; i++)
                    results[owners[i]] += picked[i];
            }
            UndisposedNativeObjects.Release();
        }
        return results;
    }

    /// <summary>Rows in order, batchSize continuations a batch (a row is never split; one too many for a batch goes alone).</summary>
    IEnumerable<Row[]> Batches(List<Row> rows)
    {
        var batch = new List<Row>();
        var count = 0;
        foreach (var row in rows)
        {
            if (batch.Count > 0 && count + row.Segments.Count > batchSize)
            {
                yield return [.. batch];
                (batch, count) = ([], 0);
            }
            batch.Add(row);
            count += row.Segments.Count;
        }
        if (batch.Count > 0)
            yield return [.. batch];
    }

    /// <summary>One continuation in a packed row: whose it is, where its tokens start, and the tokens.</summary>
    sealed record Segment(int Owner, int Start, int[] Tokens);

    /// <summary>A prompt's tokens (with bos) followed by continuations of it.</summary>
    sealed record Row(int[] Context, List<Segment> Segments)
    {
        public int Length => Context.Length + Segments.Sum(s => s.Tokens.Length);
    }

    List<Row> Pack(IReadOnlyList<Continuation> continuations)
    {
        var rows = new List<Row>();
        var open = new Dictionary<string, Row>(StringComparer.Ordinal);
        for (var i = 0; i < continuations.Count; i++)
        {
            var (prompt, text) = (continuations[i].Prompt, continuations[i].Text);
            var target = tokenizer.Encode(text).ToArray();
            var row = open.GetValueOrDefault(prompt);
            var context = row?.Context ?? Context(prompt);
            if (target.Length == 0 || context.Length + target.Length > maxTokens)
                continue; // not scored: results[i] stays null
            if (row is null || row.Length + target.Length > RowTokens)
            {
                row = new Row(context, []);
                rows.Add(row);
                open[prompt] = row;
            }
            row.Segments.Add(new Segment(i, row.Length, target));
        }
        return rows;
    }

    int[] Context(string prompt) =>
        [.. tokenizer.BosId is { } bos ? [bos] : Array.Empty<int>(), .. tokenizer.Encode(prompt)];

    /// <summary>
    /// Right-padded input ids [B, T] and their layout: the context at positions 0..C-1 seen causally, each segment at
    /// C, C+1, ... seeing the context and its own earlier tokens; padding sees itself only.
    /// </summary>
    static (Tensor InputIds, PackedLayout Layout) Collate(Row[] rows, int padId)
    {
        int length = rows.Max(r => r.Length);
        var ids = new long[rows.Length * length];
        var positions = new long[rows.Length * length];
        var mask = new bool[rows.Length * length * length];
        Array.Fill(ids, padId);
        for (var b = 0; b < rows.Length; b++)
        {
            var row = rows[b];
            int rowStart = b * length, maskStart = b * length * length, context = row.Context.Length;
            for (var t = 0; t < context; t++)
            {
                ids[rowStart + t] = row.Context[t];
                positions[rowStart + t] = t;
                mask.AsSpan(maskStart + t * length, t + 1).Fill(true);
            }
            foreach (var segment in row.Segments)
                for (var j = 0; j < segment.Tokens.Length; j++)
                {
                    int t = segment.Start + j, query = maskStart + t * length;
                    ids[rowStart + t] = segment.Tokens[j];
                    positions[rowStart + t] = context + j;
                    mask.AsSpan(query, context).Fill(true);
                    mask.AsSpan(query + segment.Start, j + 1).Fill(true);
                }
            for (var t = row.Length; t < length; t++)
                mask[maskStart + t * length + t] = true;
        }
        return (tensor(ids, [rows.Length, length]),
            new PackedLayout(tensor(positions, [rows.Length, length]), tensor(mask, [rows.Length, 1, length, length])));
    }

    /// <summary>
    /// For every scored token: the flat index (row * T + position) of the token that predicts it (the context's last token
    /// for a segment's first), the token, and the continuation it belongs to. Without a context (no bos, empty prompt) a
    /// continuation's first token has nothing to be predicted from and is not counted.
    /// </summary>
    static (long[] Before, long[] Tokens, int[] Owners) Targets(Row[] rows, long length)
    {
        var (before, tokens, owners) = (new List<long>(), new List<long>(), new List<int>());
        for (var b = 0; b < rows.Length; b++)
            foreach (var segment in rows[b].Segments)
                for (var j = rows[b].Context.Length == 0 ? 1 : 0; j < segment.Tokens.Length; j++)
                {
                    before.Add(b * length + (j == 0 ? rows[b].Context.Length - 1 : segment.Start + j - 1));
                    tokens.Add(segment.Tokens[j]);
                    owners.Add(segment.Owner);
                }
        return ([.. before], [.. tokens], [.. owners]);
    }
}
