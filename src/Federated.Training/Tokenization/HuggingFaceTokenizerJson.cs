using System.Text.Json;

namespace Federated.Training.Tokenization;

/// <summary>
/// The parts of a Hugging Face fast-tokenizer <c>tokenizer.json</c> that a byte-level BPE tokenizer
/// (GPT-2, Llama-3, Qwen2) needs: vocabulary, merges, added tokens and the pre-tokenizer's split regex.
/// </summary>
public sealed record HuggingFaceTokenizerJson(
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyList<string> Merges,
    IReadOnlyDictionary<string, int> AddedTokens,
    string SplitPattern)
{
    /// <summary>GPT-2's split regex: what a ByteLevel pre-tokenizer with <c>use_regex</c> applies.</summary>
    public const string Gpt2SplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Whether the file is a BPE model with byte-level pre-tokenization or decoding, which this type supports.</summary>
    public static bool IsByteLevelBpe(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
        && root.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.Object
        && (!model.TryGetProperty("type", out var type) || type.ValueKind == JsonValueKind.String && type.GetString() == "BPE")
        && (FindByType(Property(root, "pre_tokenizer"), "ByteLevel") is not null
            || FindByType(Property(root, "decoder"), "ByteLevel") is not null);

    /// <exception cref="ModelFormatException">The file is not a byte-level BPE tokenizer or a field is malformed.</exception>
    public static HuggingFaceTokenizerJson Parse(JsonElement root, string path)
    {
        if (!IsByteLevelBpe(root))
            throw new ModelFormatException($"{path}: only byte-level BPE tokenizer.json files (GPT-2, Llama-3, Qwen2 style) are supported");
        var model = root.GetProperty("model");

        if (Property(model, "vocab") is not { ValueKind: JsonValueKind.Object } vocabJson)
            throw new ModelFormatException($"{path}: model.vocab must be an object of token -> id");
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabJson.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                throw new ModelFormatException($"{path}: model.vocab['{entry.Name}'] is not a non-negative integer id");
            vocabulary[entry.Name] = id;
        }

        return new HuggingFaceTokenizerJson(vocabulary, ParseMerges(model, path), ParseAddedTokens(root, path), ParseSplitPattern(root));
    }

    // Older files write merges as "a b" strings, newer ones as ["a", "b"] pairs; BpeOptions takes the string form.
    static List<string> ParseMerges(JsonElement model, string path)
    {
        var merges = new List<string>();
        if (Property(model, "merges") is not { } mergesJson || mergesJson.ValueKind == JsonValueKind.Null)
            return merges;
        if (mergesJson.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException($"{path}: model.merges must be an array");
        var index = 0;
        foreach (var merge in mergesJson.EnumerateArray())
        {
            merges.Add(merge switch
            {
                { ValueKind: JsonValueKind.String } => merge.GetString()!,
                { ValueKind: JsonValueKind.Array } when merge.GetArrayLength() == 2
                    && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String
                    => $"{merge[0].GetString()} {merge[1].GetString()}",
                _ => throw new ModelFormatException($"{path}: model.merges[{index}] is neither \"a b\" nor [\"a\", \"b\"]"),
            });
            index++;
        }
        return merges;
    }

    static Dictionary<string, int> ParseAddedTokens(JsonElement root, string path)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (Property(root, "added_tokens") is not { ValueKind: JsonValueKind.Array } tokens)
            return added;
        var index = 0;
        foreach (var token in tokens.EnumerateArray())
        {
            if (Property(token, "content") is not { ValueKind: JsonValueKind.String } content
                || Property(token, "id") is not { ValueKind: JsonValueKind.Number } idJson || !idJson.TryGetInt32(out var id))
                throw new ModelFormatException($"{path}: added_tokens[{index}] needs a string 'content' and an integer 'id'");
            added[content.GetString()!] = id;
            index++;
        }
        return added;
    }

    // Llama-3 and Qwen2 put their own regex in a Split pre-tokenizer and turn the ByteLevel one's regex off.
    static string ParseSplitPattern(JsonElement root)
    {
        var preTokenizer = Property(root, "pre_tokenizer");
        if (FindByType(preTokenizer, "Split") is { } split
            && Property(split, "pattern") is { } pattern
            && Property(pattern, "Regex") is { ValueKind: JsonValueKind.String } regex)
            return regex.GetString()!;
        if (FindByType(preTokenizer, "ByteLevel") is { } byteLevel
            && (Property(byteLevel, "use_regex") is not { } useRegex || useRegex.ValueKind != JsonValueKind.False))
            return Gpt2SplitPattern;
        return @"[\s\S]+";
    }

    static JsonElement? Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : null;

    // Finds a component by type in a pre-tokenizer or decoder, looking inside Sequence components.
    static JsonElement? FindByType(JsonElement? component, string type)
    {
        if (component is not { ValueKind: JsonValueKind.Object } c)
            return null;
        if (Property(c, "type") is { ValueKind: JsonValueKind.String } t && t.GetString() == type)
            return c;
        foreach (var listName in new[] { "pretokenizers", "decoders" })
            if (Property(c, listName) is { ValueKind: JsonValueKind.Array } list)
                foreach (var child in list.EnumerateArray())
                    if (FindByType(child, type) is { } found)
                        return found;
        return null;
    }
}
