using System.Text.Json;

namespace Federated.Training.Data;

/// <summary>
/// Reads instruction data as JSON Lines: one object per line with Alpaca fields (<c>instruction</c>, optional
/// <c>input</c>, <c>output</c>) or Dolly fields (<c>instruction</c>, optional <c>context</c>, <c>response</c>).
/// Blank lines (empty or only whitespace) are skipped; everything else must be a valid example.
/// </summary>
public static class InstructionJsonlReader
{
    /// <exception cref="TrainingDataException">A line is not a valid example; the message names the file and line.</exception>
    public static IReadOnlyList<InstructionRecord> ReadFile(string path)
    {
        using var reader = new StreamReader(path);
        return Read(reader, path);
    }

    /// <param name="fileName">Used only in error messages.</param>
    public static IReadOnlyList<InstructionRecord> Read(TextReader reader, string fileName) =>
        ReadTagged(reader, fileName, tagField: null).Select(tagged => tagged.Record).ToList();

    /// <summary>
    /// Reads the examples together with one extra, optional string field of each line (e.g. <c>"domain"</c>);
    /// the tag is null where the line does not have it (or has it as null).
    /// </summary>
    /// <param name="tagField">The extra field's name; null reads no tag.</param>
    public static IReadOnlyList<(InstructionRecord Record, string? Tag)> ReadTagged(TextReader reader, string fileName, string? tagField)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var records = new List<(InstructionRecord, string?)>();
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (!string.IsNullOrWhiteSpace(line))
                records.Add(ParseLine(line, fileName, lineNumber, tagField));
        }
        return records;
    }

    static (InstructionRecord Record, string? Tag) ParseLine(string line, string fileName, int lineNumber, string? tagField)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new TrainingDataException(fileName, lineNumber, $"malformed JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new TrainingDataException(fileName, lineNumber, $"expected a JSON object, found {root.ValueKind}");

            var instruction = OptionalString(root, "instruction");
            if (string.IsNullOrWhiteSpace(instruction))
                throw new TrainingDataException(fileName, lineNumber, "missing 'instruction'");

            var output = OptionalString(root, "output");
            var response = OptionalString(root, "response");
            if (output is not null && response is not null)
                throw new TrainingDataException(fileName, lineNumber, "has both 'output' (Alpaca) and 'response' (Dolly)");
            var answer = output ?? response
                ?? throw new TrainingDataException(fileName, lineNumber, "missing 'output' (Alpaca) or 'response' (Dolly)");

            var input = OptionalString(root, "input");
            var context = OptionalString(root, "context");
            if (!string.IsNullOrEmpty(input) && !string.IsNullOrEmpty(context))
                throw new TrainingDataException(fileName, lineNumber, "has both 'input' (Alpaca) and 'context' (Dolly)");

            var tag = tagField is null ? null : OptionalString(root, tagField);
            return (new InstructionRecord(instruction, input ?? context ?? "", answer), tag);
        }

        // Absent and null both mean "not given"; any other non-string type is an error.
        string? OptionalString(JsonElement root, string name) =>
            !root.TryGetProperty(name, out var value) ? null
            : value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Null => null,
                _ => throw new TrainingDataException(fileName, lineNumber, $"'{name}' must be a string, found {value.ValueKind}"),
            };
    }
}
