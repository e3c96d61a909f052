using Microsoft.ML.Tokenizers;

namespace Federated.Training.Tokenization;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (Llama-2 style) run by Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>.
/// BOS/EOS come from the model; PAD from <c>tokenizer_config.json</c> if it names one (Llama-2 has none).
/// </summary>
public sealed class SentencePieceTextTokenizer : ITextTokenizer
{
    readonly LlamaTokenizer _tokenizer;

    SentencePieceTextTokenizer(LlamaTokenizer tokenizer, int vocabularySize, int? padId)
    {
        _tokenizer = tokenizer;
        VocabularySize = vocabularySize;
        PadId = padId;
    }

    public int VocabularySize { get; }

    public int? BosId => _tokenizer.BeginningOfSentenceId;

    public int? EosId => _tokenizer.EndOfSentenceId;

    public int? PadId { get; }

    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _tokenizer.EncodeToIds(text);
    }

    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);

    /// <exception cref="ModelFormatException">The file is not a readable SentencePiece model.</exception>
    public static SentencePieceTextTokenizer Load(string path, TokenizerConfig config)
    {
        using var stream = File.OpenRead(path);
        LlamaTokenizer tokenizer;
        try
        {
            // BOS/EOS are placed by the data pipeline, never implicitly by Encode.
            tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) // protobuf parse errors derive from IOException, so no narrower filter is safe
        {
            throw new ModelFormatException($"{path}: not a readable SentencePiece model: {e.Message}", e);
        }

        var vocabularySize = tokenizer.Vocabulary.Values.DefaultIfEmpty(-1).Max() + 1;
        int? padId = config.PadToken is null ? null
            : tokenizer.Vocabulary.TryGetValue(config.PadToken, out var id) ? id
            : throw new ModelFormatException($"{path}: {TokenizerConfig.FileName} pad_token '{config.PadToken}' is not in the vocabulary");
        return new SentencePieceTextTokenizer(tokenizer, vocabularySize, padId);
    }
}
