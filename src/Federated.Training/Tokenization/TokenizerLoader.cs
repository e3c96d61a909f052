using System.Text.Json;

namespace Federated.Training.Tokenization;

/// <summary>
/// Finds a model directory's tokenizer. Order: <c>tokenizer.json</c> (ours, or HF byte-level BPE), then
/// <c>tokenizer.model</c> (SentencePiece). A tokenizer.json of another HF kind (e.g. Llama-2's) falls through to
/// tokenizer.model when both are present, as Llama-2 checkpoints ship.
/// </summary>
public static class TokenizerLoader
{
    public const string TokenizerJsonFileName = "tokenizer.json";
    public const string SentencePieceFileName = "tokenizer.model";

    /// <exception cref="ModelFormatException">No tokenizer file is present, or the one chosen is malformed or unsupported.</exception>
    public static ITextTokenizer Load(string modelDirectory)
    {
        if (!Directory.Exists(modelDirectory))
            throw new ModelFormatException($"model directory '{modelDirectory}' does not exist");
        var jsonPath = Path.Combine(modelDirectory, TokenizerJsonFileName);
        var sentencePiecePath = Path.Combine(modelDirectory, SentencePieceFileName);

        if (File.Exists(jsonPath))
        {
            using var document = ParseJsonFile(jsonPath);
            var root = document.RootElement;
            if (ByteLevelTokenizer.Describes(root))
                return ByteLevelTokenizer.FromJson(root, jsonPath);
            if (HuggingFaceTokenizerJson.IsByteLevelBpe(root) || !File.Exists(sentencePiecePath))
                return HuggingFaceBpeTokenizer.FromJson(root, jsonPath, TokenizerConfig.Read(modelDirectory));
        }
        if (File.Exists(sentencePiecePath))
            return SentencePieceTextTokenizer.Load(sentencePiecePath, TokenizerConfig.Read(modelDirectory));

        throw new ModelFormatException($"{modelDirectory}: no tokenizer: neither {jsonPath} nor {sentencePiecePath} exists");
    }

    /// <exception cref="ModelFormatException">The file is not valid JSON.</exception>
    internal static JsonDocument ParseJsonFile(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: malformed JSON: {e.Message}", e);
        }
    }
}
