using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Federated.Training.Tokenization;

/// <summary>
/// Tokenizer for tiny test models and CPU runs: ids 0..255 are the UTF-8 bytes of the text, then
/// 256 = BOS, 257 = EOS, 258 = PAD. Needs no vocabulary file and round-trips any valid Unicode string exactly.
/// Saved as a <c>tokenizer.json</c> of type <see cref="TypeName"/> so a model directory describes itself.
/// </summary>
public sealed class ByteLevelTokenizer : ITextTokenizer
{
    public const string TypeName = "federated-byte-level";
    public const int FormatVersion = 1;
    public const int Bos = 256;
    public const int Eos = 257;
    public const int Pad = 258;

    public static ByteLevelTokenizer Instance { get; } = new();

    ByteLevelTokenizer() { }

    public int VocabularySize => 259;

    public int? BosId => Bos;

    public int? EosId => Eos;

    public int? PadId => Pad;

    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
            ids[i] = bytes[i];
        return ids;
    }

    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id is < 0 or >= 259)
                throw new ArgumentOutOfRangeException(nameof(ids), id, "byte-level token ids are 0..258");
            if (id < 256)
                bytes.Add((byte)id);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Writes <c>tokenizer.json</c> into <paramref name="directory"/> (created if needed) and returns its path.</summary>
    public string Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, TokenizerLoader.TokenizerJsonFileName);
        // The ids are fixed by the format version; they are written only so the file is readable on its own.
        var json = new JsonObject
        {
            ["type"] = TypeName,
            ["version"] = FormatVersion,
            ["vocab_size"] = VocabularySize,
            ["bos_id"] = Bos,
            ["eos_id"] = Eos,
            ["pad_id"] = Pad,
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return path;
    }

    /// <summary>Whether a parsed <c>tokenizer.json</c> claims to be ours (then <see cref="FromJson"/> validates it).</summary>
    public static bool Describes(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
        && root.TryGetProperty("type", out var type)
        && type.ValueKind == JsonValueKind.String
        && type.GetString() == TypeName;

    /// <exception cref="ModelFormatException">The file is not a supported version of this format.</exception>
    public static ByteLevelTokenizer FromJson(JsonElement root, string path)
    {
        if (!Describes(root))
            throw new ModelFormatException($"{path}: not a {TypeName} tokenizer");
        if (!root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number
            || !version.TryGetInt32(out var v))
            throw new ModelFormatException($"{path}: {TypeName} tokenizer without an integer 'version'");
        if (v != FormatVersion)
            throw new ModelFormatException($"{path}: {TypeName} tokenizer version {v} is not supported (expected {FormatVersion})");
        return Instance;
    }
}
