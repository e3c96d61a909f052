using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>Turns a safetensors file into a <see cref="CompressedAdapter"/>, rejecting anything a compressor would not write.</summary>
static class CompressedAdapterParser
{
    /// <summary>Takes ownership of <paramref name="file"/>: its tensors end up in the result, or are disposed on failure.</summary>
    public static CompressedAdapter Parse(SafetensorsFile file, string source)
    {
        try
        {
            return Build(file, source);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What a compressed file decompresses to, from its header alone (tensor names, dtypes, shapes and metadata): the declared
    /// modules with their shapes, checked against every payload tensor's dtype and size, so that a file whose data would
    /// expand to anything else is refused before a byte of it is read or expanded.
    /// </summary>
    public static CompressedLayout Describe(IEnumerable<(string Name, ScalarType DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string> metadata, string source)
    {
        var scheme = ReadScheme(metadata, source);
        var declared = ReadModules(metadata, source);
        var useRsLora = ReadRsLora(metadata, source);
        metadata.TryGetValue(CompressedAdapterFile.BaseModelMetadataKey, out var baseModel);

        var factors = new Dictionary<string, (long Rows, long Columns, Dictionary<string, (ScalarType DType, long[] Shape)> Parts)>(StringComparer.Ordinal);
        foreach (var m in declared)
        {
            factors[CompressedAdapterFile.FactorKey(m.Name, isA: true)] = (m.Rank, m.InFeatures, new(StringComparer.Ordinal));
            factors[CompressedAdapterFile.FactorKey(m.Name, isA: false)] = (m.OutFeatures, m.Rank, new(StringComparer.Ordinal));
        }
        foreach (var (name, dtype, shape) in tensors)
        {
            var dot = name.LastIndexOf('.');
            if (dot < 0 || !factors.TryGetValue(name[..dot], out var factor))
                throw new AdapterFormatException(
                    $"{source}: tensor '{name}' is not a payload of any module listed in {CompressedAdapterFile.ModulesMetadataKey}");
            factor.Parts[name[(dot + 1)..]] = (dtype, shape);
        }
        foreach (var (key, (rows, columns, parts)) in factors)
            PayloadShapes.Check(scheme, source, key, rows, columns, parts);
        return new CompressedLayout(scheme, declared, useRsLora, baseModel);
    }

    static CompressedAdapter Build(SafetensorsFile file, string source)
    {
        // The header's promises first: nothing below allocates more than the declared shapes.
        var layout = Describe(file.Tensors.Select(t => (t.Name, t.Tensor.dtype, t.Tensor.shape)), file.Metadata, source);
        var (scheme, declared, useRsLora, baseModel) = layout;

        // Every tensor must belong to a declared factor: anything else would be silently dropped.
        var owners = new Dictionary<string, Dictionary<string, Tensor>>(StringComparer.Ordinal);
        foreach (var (name, _, _, _, _) in declared)
        {
            owners[CompressedAdapterFile.FactorKey(name, isA: true)] = new(StringComparer.Ordinal);
            owners[CompressedAdapterFile.FactorKey(name, isA: false)] = new(StringComparer.Ordinal);
        }
        foreach (var (name, tensor) in file.Tensors)
        {
            var dot = name.LastIndexOf('.');
            if (dot < 0 || !owners.TryGetValue(name[..dot], out var parts))
                throw new AdapterFormatException(
                    $"{source}: tensor '{name}' is not a payload of any module listed in {CompressedAdapterFile.ModulesMetadataKey}");
            parts[name[(dot + 1)..]] = tensor;
        }

        var modules = new List<CompressedModule>(declared.Count);
        foreach (var (name, alpha, rank, inFeatures, outFeatures) in declared)
        {
            var a = Factor(scheme, source, CompressedAdapterFile.FactorKey(name, isA: true), owners);
            var b = Factor(scheme, source, CompressedAdapterFile.FactorKey(name, isA: false), owners);
            // The shapes a factor's data claims (top-k and ternary store them as data) must be the declared ones.
            if (a.Rows != rank || a.Columns != inFeatures || b.Rows != outFeatures || b.Columns != rank)
                throw new AdapterFormatException(
                    $"{source}: module '{name}' is declared as rank {rank}, {outFeatures}x{inFeatures}, but its data describes A {a.Rows}x{a.Columns} and B {b.Rows}x{b.Columns}");
            try
            {
                modules.Add(new CompressedModule(name, a, b, alpha, useRsLora));
            }
            catch (AdapterShapeException e)
            {
                throw new AdapterFormatException($"{source}: {e.Message}", e);
            }
        }
        return new CompressedAdapter(scheme, modules, baseModel);
    }

    static CompressedTensor Factor(CompressionScheme scheme, string source, string key, Dictionary<string, Dictionary<string, Tensor>> owners)
    {
        var payloads = new FactorPayloads(source, key, owners[key]);
        return scheme switch
        {
            CompressionScheme.Int8 => Int8Tensor.FromPayloads(payloads),
            CompressionScheme.TopK => SparseTensor.FromPayloads(payloads),
            CompressionScheme.Ternary => TernaryTensor.FromPayloads(payloads),
            _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, null),
        };
    }

    static CompressionScheme ReadScheme(IReadOnlyDictionary<string, string> metadata, string source)
    {
        var key = CompressedAdapterFile.SchemeMetadataKey;
        if (!metadata.TryGetValue(key, out var name))
            throw new AdapterFormatException($"{source}: metadata has no '{key}'; this is not a compressed adapter");
        return CompressionSchemes.TryParse(name, out var scheme) ? scheme
            : throw new AdapterFormatException(
                $"{source}: metadata '{key}' is '{name}', not a known compression scheme (int8, topk, ternary)");
    }

    static bool ReadRsLora(IReadOnlyDictionary<string, string> metadata, string source)
    {
        var key = CompressedAdapterFile.RsLoraMetadataKey;
        if (!metadata.TryGetValue(key, out var value))
            throw new AdapterFormatException($"{source}: metadata has no '{key}'");
        return value switch
        {
            "true" => true,
            "false" => false,
            _ => throw new AdapterFormatException($"{source}: metadata '{key}' is '{value}', expected 'true' or 'false'"),
        };
    }

    static List<DeclaredModule> ReadModules(IReadOnlyDictionary<string, string> metadata, string source)
    {
        var key = CompressedAdapterFile.ModulesMetadataKey;
        if (!metadata.TryGetValue(key, out var json))
            throw new AdapterFormatException($"{source}: metadata has no '{key}'");
        AdapterFormatException Malformed(string detail) => new($"{source}: metadata '{key}' {detail}");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new AdapterFormatException($"{source}: metadata '{key}' is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array || document.RootElement.GetArrayLength() == 0)
                throw Malformed("must be a non-empty array of {\"name\", \"alpha\"} objects");
            var modules = new List<DeclaredModule>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object
                    || !entry.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                    || !entry.TryGetProperty("alpha", out var alpha) || alpha.ValueKind != JsonValueKind.Number
                    || !alpha.TryGetDouble(out var value)
                    || !TryGetDimension(entry, "rank", out var rank) || !TryGetDimension(entry, "in", out var inFeatures)
                    || !TryGetDimension(entry, "out", out var outFeatures))
                    throw Malformed($"entry {modules.Count} is not a {{\"name\": string, \"alpha\": number, \"rank\", \"in\", \"out\": positive integers}} object");
                var module = name.GetString()!;
                if (string.IsNullOrWhiteSpace(module) || !names.Add(module))
                    throw Malformed($"entry {modules.Count} names module '{module}', which is empty or listed twice");
                modules.Add(new DeclaredModule(module, value, rank, inFeatures, outFeatures));
            }
            return modules;
        }
    }

    static bool TryGetDimension(JsonElement entry, string property, out int value)
    {
        value = 0;
        return entry.TryGetProperty(property, out var element) && element.ValueKind == JsonValueKind.Number
            && element.TryGetInt32(out value) && value > 0;
    }
}

/// <summary>One module of a compressed file as its metadata declares it: what its factors decompress to (A: rank x in, B: out x rank).</summary>
public sealed record DeclaredModule(string Name, double Alpha, int Rank, int InFeatures, int OutFeatures);

/// <summary>A compressed file's structure from its header: what it decompresses to.</summary>
public sealed record CompressedLayout(CompressionScheme Scheme, IReadOnlyList<DeclaredModule> Modules, bool UseRsLora, string? BaseModel);
