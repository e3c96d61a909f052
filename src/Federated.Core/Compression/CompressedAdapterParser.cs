using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>Turns a safetensors file into a <see cref="CompressedAdapter"/>, rejecting anything a compressor would not write.</summary>
internal static class CompressedAdapterParser
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

    static CompressedAdapter Build(SafetensorsFile file, string source)
    {
        var scheme = ReadScheme(file.Metadata, source);
        var declared = ReadModules(file.Metadata, source);
        var useRsLora = ReadRsLora(file.Metadata, source);
        file.Metadata.TryGetValue(CompressedAdapterFile.BaseModelMetadataKey, out var baseModel);

        // Every tensor must belong to a declared factor: anything else would be silently dropped.
        var owners = new Dictionary<string, Dictionary<string, Tensor>>(StringComparer.Ordinal);
        foreach (var (name, _) in declared)
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
        foreach (var (name, alpha) in declared)
        {
            var a = Factor(scheme, source, CompressedAdapterFile.FactorKey(name, isA: true), owners);
            var b = Factor(scheme, source, CompressedAdapterFile.FactorKey(name, isA: false), owners);
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

    static List<(string Name, double Alpha)> ReadModules(IReadOnlyDictionary<string, string> metadata, string source)
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
            var modules = new List<(string, double)>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object
                    || !entry.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                    || !entry.TryGetProperty("alpha", out var alpha) || alpha.ValueKind != JsonValueKind.Number
                    || !alpha.TryGetDouble(out var value))
                    throw Malformed($"entry {modules.Count} is not a {{\"name\": string, \"alpha\": number}} object");
                var module = name.GetString()!;
                if (string.IsNullOrWhiteSpace(module) || !names.Add(module))
                    throw Malformed($"entry {modules.Count} names module '{module}', which is empty or listed twice");
                modules.Add((module, value));
            }
            return modules;
        }
    }
}
