using static TorchSharp.torch;

namespace Federated.Training.Data;

/// <summary>
/// A right-padded batch on the CPU: <c>input_ids</c> and <c>labels</c> int64 [B, T], <c>attention_mask</c> bool [B, T]
/// (true on real tokens). Padding positions hold the pad id in the inputs and <see cref="TrainingExample.IgnoreIndex"/>
/// in the labels. T is the longest example in the batch.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    TrainingBatch(Tensor inputIds, Tensor labels, Tensor attentionMask)
    {
        InputIds = inputIds;
        Labels = labels;
        AttentionMask = attentionMask;
    }

    public Tensor InputIds { get; }

    public Tensor Labels { get; }

    public Tensor AttentionMask { get; }

    public static TrainingBatch Collate(IReadOnlyList<TrainingExample> examples, int padId)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
            throw new ArgumentException("a batch needs at least one example", nameof(examples));
        var rows = examples.Count;
        var columns = examples.Max(e => e.Length);
        var inputIds = new long[rows * columns];
        var labels = new long[rows * columns];
        var mask = new bool[rows * columns];
        Array.Fill(inputIds, padId);
        Array.Fill(labels, TrainingExample.IgnoreIndex);
        for (var row = 0; row < rows; row++)
        {
            var example = examples[row];
            for (var column = 0; column < example.Length; column++)
            {
                var index = row * columns + column;
                inputIds[index] = example.InputIds[column];
                labels[index] = example.Labels[column];
                mask[index] = true;
            }
        }
        long[] shape = [rows, columns];
        return new TrainingBatch(tensor(inputIds, shape), tensor(labels, shape), tensor(mask, shape));
    }

    public void Dispose()
    {
        InputIds.Dispose();
        Labels.Dispose();
        AttentionMask.Dispose();
    }
}
