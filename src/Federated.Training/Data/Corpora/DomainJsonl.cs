using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Federated.Training.Data.Corpora;

/// <summary>
/// Domain-tagged examples as Alpaca JSON Lines with one more field:
/// <c>{"instruction": ..., "input": ..., "output": ..., "domain": ...}</c>. Files written here can be read back, inspected,
/// edited, or replaced by a user's own; reading accepts everything <see cref="InstructionJsonlReader"/> does (Alpaca or
/// Dolly fields), with <c>domain</c> optional.
/// </summary>
public static class DomainJsonl
{
    public const string DomainField = "domain";

    // Non-ASCII text (German, Russian fortunes) stays readable in the file rather than escaped as \u code points.
    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteFile(IEnumerable<DomainExample> examples, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
            Directory.CreateDirectory(directory);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        Write(examples, writer);
    }

    public static void Write(IEnumerable<DomainExample> examples, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(writer);
        var buffer = new MemoryStream();
        foreach (var example in examples)
        {
            buffer.SetLength(0);
            using (var json = new Utf8JsonWriter(buffer, WriterOptions))
            {
                json.WriteStartObject();
                json.WriteString("instruction", example.Instruction);
                json.WriteString("input", example.Input);
                json.WriteString("output", example.Output);
                json.WriteString(DomainField, example.Domain);
                json.WriteEndObject();
            }
            writer.Write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            writer.Write('\n');
        }
    }

    /// <param name="defaultDomain">The domain of lines without one (or with an empty one); by default the file's name
    /// without its extension, so one file per domain needs no domain fields.</param>
    /// <exception cref="TrainingDataException">A line is not a valid example or its domain is not a string.</exception>
    public static IReadOnlyList<DomainExample> ReadFile(string path, string? defaultDomain = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new TrainingDataException(path, null, "the data file does not exist");
        using var reader = new StreamReader(path);
        return Read(reader, path, defaultDomain ?? Path.GetFileNameWithoutExtension(path));
    }

    /// <param name="fileName">Used only in error messages.</param>
    public static IReadOnlyList<DomainExample> Read(TextReader reader, string fileName, string defaultDomain)
    {
        ArgumentException.ThrowIfNullOrEmpty(defaultDomain);
        return InstructionJsonlReader.ReadTagged(reader, fileName, DomainField)
            .Select(t => new DomainExample(string.IsNullOrWhiteSpace(t.Tag) ? defaultDomain : t.Tag, t.Record.Instruction, t.Record.Input, t.Record.Output))
            .ToList();
    }
}
