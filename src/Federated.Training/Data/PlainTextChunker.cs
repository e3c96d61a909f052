using Federated.Training.Tokenization;

namespace Federated.Training.Data;

/// <summary>
/// Plain-text language-modelling data: the whole text is tokenized once (no BOS/EOS) and cut into consecutive,
/// non-overlapping windows of <c>contextLength</c> tokens, every token a target (labels = inputs; the loss shifts).
/// A shorter final window is kept if it has at least two tokens, the fewest that give one next-token prediction.
/// </summary>
public static class PlainTextChunker
{
    public static IReadOnlyList<TrainingExample> ReadFile(string path, ITextTokenizer tokenizer, int contextLength) =>
        Chunk(File.ReadAllText(path), tokenizer, contextLength);

    public static IReadOnlyList<TrainingExample> Chunk(string text, ITextTokenizer tokenizer, int contextLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var tokens = tokenizer.Encode(text).ToArray();
        var chunks = new List<TrainingExample>();
        for (var start = 0; tokens.Length - start >= 2; start += contextLength)
            chunks.Add(TrainingExample.Unmasked(tokens[start..Math.Min(start + contextLength, tokens.Length)]));
        return chunks;
    }
}
