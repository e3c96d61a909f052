namespace Federated.Training.Data;

/// <summary>
/// One training sequence. Labels are aligned with the inputs (label[i] = the token at i, or <see cref="IgnoreIndex"/>);
/// the loss shifts them by one to predict the next token, as Hugging Face causal LMs do.
/// </summary>
public sealed class TrainingExample
{
    /// <summary>Label of positions that do not count in the loss: PyTorch's cross-entropy ignore_index.</summary>
    public const int IgnoreIndex = -100;

    public TrainingExample(IReadOnlyList<int> inputIds, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(labels);
        if (inputIds.Count == 0)
            throw new ArgumentException("a training example needs at least one token", nameof(inputIds));
        if (labels.Count != inputIds.Count)
            throw new ArgumentException($"{labels.Count} labels for {inputIds.Count} input ids", nameof(labels));
        InputIds = inputIds;
        Labels = labels;
    }

    public IReadOnlyList<int> InputIds { get; }

    public IReadOnlyList<int> Labels { get; }

    public int Length => InputIds.Count;

    /// <summary>An example whose every token is a target (plain-text language modelling).</summary>
    public static TrainingExample Unmasked(IReadOnlyList<int> ids) => new(ids, ids);
}
