using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Federated.Training.Tokenization;

/// <summary>
/// A Hugging Face byte-level BPE <c>tokenizer.json</c> (Llama-3, Qwen2, GPT-2) run by Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/>. Added tokens are matched as whole tokens in the text, as HF does;
/// BOS/EOS/PAD come from <c>tokenizer_config.json</c>.
/// </summary>
public sealed class HuggingFaceBpeTokenizer : ITextTokenizer
{
    readonly BpeTokenizer _tokenizer;

    HuggingFaceBpeTokenizer(BpeTokenizer tokenizer, int vocabularySize, int? bosId, int? eosId, int? padId)
    {
        _tokenizer = tokenizer;
        VocabularySize = vocabularySize;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
    }

    public int VocabularySize { get; }

    public int? BosId { get; }

    public int? EosId { get; }

    public int? PadId { get; }

    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _tokenizer.EncodeToIds(text);
    }

    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);

    /// <exception cref="ModelFormatException">The file is malformed, not byte-level BPE, or a configured special token is unknown.</exception>
    public static HuggingFaceBpeTokenizer FromJson(JsonElement root, string path, TokenizerConfig config)
    {
        var parsed = HuggingFaceTokenizerJson.Parse(root, path);
        var added = new Dictionary<string, int>(parsed.AddedTokens, StringComparer.Ordinal);
        Regex split;
        try
        {
            split = new Regex(parsed.SplitPattern, RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException($"{path}: the pre-tokenizer regex is not valid in .NET: {e.Message}", e);
        }

        BpeTokenizer tokenizer;
        try
        {
            tokenizer = BpeTokenizer.Create(new BpeOptions(parsed.Vocabulary)
            {
                Merges = parsed.Merges,
                SpecialTokens = added,
                PreTokenizer = new RegexPreTokenizer(split, added),
                ByteLevel = true,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException($"{path}: {e.Message}", e);
        }

        var vocabularySize = parsed.Vocabulary.Values.Concat(added.Values).DefaultIfEmpty(-1).Max() + 1;
        return new HuggingFaceBpeTokenizer(tokenizer, vocabularySize,
            IdOf(config.BosToken, "bos_token"), IdOf(config.EosToken, "eos_token"), IdOf(config.PadToken, "pad_token"));

        int? IdOf(string? token, string field) =>
            token is null ? null
            : added.TryGetValue(token, out var id) || parsed.Vocabulary.TryGetValue(token, out id) ? id
            : throw new ModelFormatException($"{path}: {TokenizerConfig.FileName} {field} '{token}' is not in the vocabulary");
    }
}
