using System.Text.Json;

namespace Federated.Training.Tokenization;

/// <summary>
/// The special-token names of a Hugging Face <c>tokenizer_config.json</c> (bos_token, eos_token, pad_token),
/// written either as a string or as an object with a <c>content</c> field. Absent file or field means "none".
/// </summary>
public sealed record TokenizerConfig(string? BosToken, string? EosToken, string? PadToken)
{
    public const string FileName = "tokenizer_config.json";

    public static TokenizerConfig None { get; } = new(null, null, null);

    /// <exception cref="ModelFormatException">The file exists but is not valid JSON or a token field has the wrong type.</exception>
    public static TokenizerConfig Read(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(path))
            return None;
        using var document = TokenizerLoader.ParseJsonFile(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"{path}: expected a JSON object");
        return new TokenizerConfig(Token(root, "bos_token", path), Token(root, "eos_token", path), Token(root, "pad_token", path));
    }

    static string? Token(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value))
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
                => content.GetString(),
            _ => throw new ModelFormatException($"{path}: '{name}' must be a string or an object with a string 'content'"),
        };
    }
}
