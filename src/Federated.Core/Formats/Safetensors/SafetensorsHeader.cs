using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using static TorchSharp.torch;

namespace Federated.Core.Formats.Safetensors;

/// <summary>One tensor's header entry; offsets are relative to the start of the data buffer.</summary>
sealed record SafetensorsEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
    public string OffsetsText => $"[{Begin}, {End}]";
}

/// <summary>Parses and validates, or serializes, the JSON header of a safetensors file.</summary>
static class SafetensorsHeader
{
    /// <summary>MAX_HEADER_SIZE of the official reader.</summary>
    public const long MaxLength = 100_000_000;
    public const string MetadataKey = "__metadata__";

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Parses <paramref name="header"/> and checks it against the <paramref name="bufferLength"/> bytes that follow it.
    /// Entries come back in data-offset order. Every failure is a <see cref="SafetensorsFormatException"/> prefixed with <paramref name="source"/>.
    /// </summary>
    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) Parse(
        ReadOnlyMemory<byte> header, long bufferLength, string source)
    {
        if (!Utf8.IsValid(header.Span))
            throw Error(SafetensorsError.InvalidHeader, source, "the header is not valid UTF-8");
        if (header.Length == 0 || header.Span[0] != (byte)'{')
            throw Error(SafetensorsError.InvalidHeader, source, "the header does not start with '{'");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Error(SafetensorsError.InvalidHeader, source, $"the header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            // JsonDocument keeps duplicate keys, so they are caught here; a later duplicate would otherwise shadow data.
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Error(SafetensorsError.DuplicateKey, source, $"key '{property.Name}' appears twice in the header");
                if (property.Name == MetadataKey)
                    ReadMetadata(property.Value, metadata, source);
                else
                    entries.Add(ReadEntry(property.Name, property.Value, source));
            }
            Validate(entries, bufferLength, source);
            return (entries, metadata);
        }
    }

    /// <summary>
    /// The header bytes the official writer produces for <paramref name="entries"/> (already in file order):
    /// compact JSON, <c>__metadata__</c> first, space-padded so the data starts 8-byte aligned.
    /// </summary>
    public static byte[] Serialize(IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder("{");
        if (metadata is { Count: > 0 })
        {
            // The official writer's metadata is a hash map with no stable order; sorting makes our output deterministic.
            json.Append('"').Append(MetadataKey).Append("\":{");
            var first = true;
            foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, Utf8Order.Instance))
            {
                if (!first) json.Append(',');
                first = false;
                AppendString(json, key).Append(':');
                AppendString(json, value);
            }
            json.Append('}');
            if (entries.Count > 0) json.Append(',');
        }
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            if (i > 0) json.Append(',');
            AppendString(json, e.Name)
                .Append(":{\"dtype\":\"").Append(SafetensorsDType.Name(e.DType))
                .Append("\",\"shape\":[").AppendJoin(',', e.Shape)
                .Append("],\"data_offsets\":[").Append(e.Begin).Append(',').Append(e.End).Append("]}");
        }
        var text = json.Append('}').ToString();

        var length = StrictUtf8.GetByteCount(text);
        var padded = (length + 7) / 8 * 8;
        if (padded > MaxLength)
            throw new ArgumentException($"the safetensors header would be {padded} bytes, over the {MaxLength}-byte limit readers enforce");
        var bytes = new byte[padded];
        StrictUtf8.GetBytes(text, bytes);
        bytes.AsSpan(length).Fill((byte)' ');
        return bytes;
    }

    static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(SafetensorsError.InvalidMetadata, source, $"{MetadataKey} is {Article(value.ValueKind)}, expected an object of strings");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Error(SafetensorsError.InvalidMetadata, source,
                    $"{MetadataKey} entry '{item.Name}' is {Article(item.Value.ValueKind)}, expected a string");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Error(SafetensorsError.DuplicateKey, source, $"{MetadataKey} key '{item.Name}' appears twice");
        }
    }

    static SafetensorsEntry ReadEntry(string name, JsonElement value, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(SafetensorsError.InvalidHeader, source, $"tensor '{name}': entry is {Article(value.ValueKind)}, expected an object");

        // The official reader ignores unknown fields but rejects repeated ones.
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var field in value.EnumerateObject())
            if (!fields.TryAdd(field.Name, field.Value))
                throw Error(SafetensorsError.DuplicateKey, source, $"tensor '{name}': field '{field.Name}' appears twice");

        if (!fields.TryGetValue("dtype", out var dtypeValue) || dtypeValue.ValueKind != JsonValueKind.String)
            throw Error(SafetensorsError.InvalidHeader, source, $"tensor '{name}': 'dtype' is missing or not a string");
        var dtypeName = dtypeValue.GetString()!;
        if (!SafetensorsDType.TryParse(dtypeName, out var scalarType))
            throw SafetensorsDType.IsSpecName(dtypeName)
                ? Error(SafetensorsError.UnsupportedDType, source, $"tensor '{name}': dtype '{dtypeName}' is not supported (no TorchSharp equivalent)")
                : Error(SafetensorsError.UnknownDType, source, $"tensor '{name}': dtype '{dtypeName}' is not a safetensors dtype");

        if (!fields.TryGetValue("shape", out var shapeValue) || shapeValue.ValueKind != JsonValueKind.Array)
            throw Error(SafetensorsError.InvalidHeader, source, $"tensor '{name}': 'shape' is missing or not an array");
        var dims = new long[shapeValue.GetArrayLength()];
        var d = 0;
        foreach (var dim in shapeValue.EnumerateArray())
        {
            var size = ReadUnsigned(dim, source, name, "shape");
            dims[d++] = size <= long.MaxValue ? (long)size
                : throw Error(SafetensorsError.ShapeSizeMismatch, source, $"tensor '{name}': dimension {size} is too large");
        }

        if (!fields.TryGetValue("data_offsets", out var offsetsValue)
            || offsetsValue.ValueKind != JsonValueKind.Array || offsetsValue.GetArrayLength() != 2)
            throw Error(SafetensorsError.InvalidHeader, source, $"tensor '{name}': 'data_offsets' is missing or not a [begin, end] pair");
        var begin = ReadUnsigned(offsetsValue[0], source, name, "data_offsets");
        var end = ReadUnsigned(offsetsValue[1], source, name, "data_offsets");
        if (begin > long.MaxValue || end > long.MaxValue)
            throw Error(SafetensorsError.OffsetsOutOfBounds, source, $"tensor '{name}': data_offsets [{begin}, {end}] exceed any possible file size");

        return new SafetensorsEntry(name, scalarType, dims, (long)begin, (long)end);
    }

    static ulong ReadUnsigned(JsonElement element, string source, string tensor, string field) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetUInt64(out var value)
            ? value
            : throw Error(SafetensorsError.InvalidHeader, source,
                $"tensor '{tensor}': '{field}' holds {element.GetRawText()}, expected a non-negative integer");

    /// <summary>The official reader's checks: each tensor's size matches its shape, and the tensors tile the buffer exactly.</summary>
    static void Validate(List<SafetensorsEntry> entries, long bufferLength, string source)
    {
        entries.Sort((x, y) => x.Begin != y.Begin ? x.Begin.CompareTo(y.Begin) : x.End.CompareTo(y.End));
        SafetensorsEntry? previous = null;
        foreach (var e in entries)
        {
            if (e.End < e.Begin)
                throw Error(SafetensorsError.InvalidOffsets, source, $"tensor '{e.Name}': data_offsets {e.OffsetsText} end before they begin");

            var expected = ByteLength(e, source);
            if (e.ByteLength != expected)
                throw Error(SafetensorsError.ShapeSizeMismatch, source,
                    $"tensor '{e.Name}': shape {e.ShapeText} of {SafetensorsDType.Name(e.DType)} needs {expected} bytes, but data_offsets {e.OffsetsText} span {e.ByteLength}");

            var previousEnd = previous?.End ?? 0;
            if (e.Begin < previousEnd)
                throw Error(SafetensorsError.OffsetsOverlapOrGap, source,
                    $"tensor '{e.Name}' (data_offsets {e.OffsetsText}) overlaps tensor '{previous!.Name}' (data_offsets {previous.OffsetsText})");
            // A tensor that follows its predecessor seamlessly but lies past the end is a truncation, reported below.
            if (e.Begin > previousEnd && e.Begin > bufferLength)
                throw Error(SafetensorsError.OffsetsOutOfBounds, source,
                    $"tensor '{e.Name}': data_offsets {e.OffsetsText} start past the end of the {bufferLength}-byte data buffer");
            if (e.Begin > previousEnd)
                throw Error(SafetensorsError.OffsetsOverlapOrGap, source, previous is null
                    ? $"{e.Begin}-byte hole at the start of the data buffer, before tensor '{e.Name}' (data_offsets {e.OffsetsText})"
                    : $"{e.Begin - previousEnd}-byte hole between tensor '{previous.Name}' (ends at {previousEnd}) and tensor '{e.Name}' (data_offsets {e.OffsetsText})");
            previous = e;
        }

        var dataEnd = previous?.End ?? 0;
        if (dataEnd > bufferLength)
        {
            var cut = entries.First(e => e.End > bufferLength);
            throw Error(SafetensorsError.Truncated, source,
                $"the file is truncated: tensor '{cut.Name}' (data_offsets {cut.OffsetsText}) ends past the {bufferLength} data bytes present; the header declares {dataEnd}");
        }
        if (dataEnd < bufferLength)
            throw Error(SafetensorsError.OffsetsOverlapOrGap, source,
                $"{bufferLength - dataEnd} bytes at the end of the data buffer belong to no tensor (tensors end at {dataEnd}, buffer is {bufferLength})");
    }

    static long ByteLength(SafetensorsEntry e, string source)
    {
        try
        {
            var count = e.Shape.Aggregate(1L, (n, dim) => checked(n * dim));
            return checked(count * SafetensorsDType.ElementSize(e.DType));
        }
        catch (OverflowException)
        {
            throw Error(SafetensorsError.ShapeSizeMismatch, source,
                $"tensor '{e.Name}': shape {e.ShapeText} of {SafetensorsDType.Name(e.DType)} overflows a 64-bit byte count");
        }
    }

    /// <summary>Escapes like serde_json, which the official writer uses: only quote, backslash and control characters.</summary>
    static StringBuilder AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case < ' ': json.Append("\\u00").Append(((int)c).ToString("x2")); break;
                default: json.Append(c); break;
            }
        }
        return json.Append('"');
    }

    static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    static SafetensorsFormatException Error(SafetensorsError error, string source, string detail, Exception? inner = null) =>
        new(error, $"{source}: {detail}", inner);
}
