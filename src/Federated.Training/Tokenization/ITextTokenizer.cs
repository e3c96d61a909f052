namespace Federated.Training.Tokenization;

/// <summary>
/// Text to token ids and back. <see cref="Encode"/> never adds BOS/EOS: the data pipeline places them explicitly,
/// and <see cref="Decode"/> leaves special tokens out of the text.
/// </summary>
public interface ITextTokenizer
{
    IReadOnlyList<int> Encode(string text);

    string Decode(IEnumerable<int> ids);

    /// <summary>One more than the largest id the tokenizer can produce: the embedding table's minimum row count.</summary>
    int VocabularySize { get; }

    int? BosId { get; }

    int? EosId { get; }

    int? PadId { get; }
}
