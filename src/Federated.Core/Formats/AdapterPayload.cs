using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats.Peft;
using Federated.Core.Formats.Safetensors;

namespace Federated.Core.Formats;

/// <summary>
/// An adapter as one self-contained safetensors file, the unit of the update store and the wire: a PEFT
/// <c>adapter_model.safetensors</c> whose metadata also carries its <c>adapter_config.json</c>. A compressed
/// upload (<see cref="CompressedAdapterFile"/>) is read through the same door, decompressed.
/// </summary>
public static class AdapterPayload
{
    /// <summary>Metadata entry holding the adapter_config.json text.</summary>
    public const string ConfigMetadataKey = "federated.adapter_config";

    public static void Write(Stream stream, LoraAdapter adapter)
    {
        var config = PeftAdapterDirectory.ConfigFor(adapter);
        var tensors = adapter.Modules.SelectMany(m => new[] { (PeftKeys.A(m.Name), m.A), (PeftKeys.B(m.Name), m.B) });
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [PeftAdapterDirectory.ModuleOrderMetadataKey] = JsonSerializer.Serialize(adapter.Modules.Select(m => m.Name)),
            [ConfigMetadataKey] = config.ToJson(),
        };
        SafetensorsWriter.Write(stream, tensors, metadata);
    }

    public static byte[] ToBytes(LoraAdapter adapter)
    {
        using var buffer = new MemoryStream();
        Write(buffer, adapter);
        return buffer.ToArray();
    }

    /// <summary>Reads a payload written by <see cref="Write"/>, or a compressed upload (decompressed to float32).</summary>
    /// <param name="source">Names the payload in error messages.</param>
    /// <exception cref="AdapterFormatException">Malformed safetensors, a missing or invalid config, or factors that disagree with it.</exception>
    public static LoraAdapter Read(ReadOnlyMemory<byte> payload, string source = "adapter payload")
    {
        SafetensorsFile file;
        try
        {
            using var stream = new MemoryStream(payload.ToArray(), writable: false);
            file = SafetensorsReader.Read(stream);
        }
        catch (SafetensorsFormatException e)
        {
            throw new AdapterFormatException($"{source}: {e.Message}", e);
        }

        if (file.Metadata.ContainsKey(CompressedAdapterFile.SchemeMetadataKey))
        {
            using var compressed = CompressedAdapterParser.Parse(file, source);
            return compressed.Decompress();
        }
        try
        {
            if (!file.Metadata.TryGetValue(ConfigMetadataKey, out var json))
                throw new AdapterFormatException($"{source}: no '{ConfigMetadataKey}' metadata: not an adapter payload (write one with AdapterPayload.Write)");
            PeftAdapterConfig config;
            try { config = PeftAdapterConfig.Parse(json); }
            catch (JsonException e) { throw new AdapterFormatException($"{source}: malformed '{ConfigMetadataKey}': {e.Message}", e); }
            if (config.PeftType != "LORA")
                throw new AdapterFormatException($"{source}: peft_type is '{config.PeftType}', but only LORA adapters are supported");
            return PeftAdapterDirectory.Build(file, config, source, source);
        }
        catch (AdapterShapeException e)
        {
            file.Dispose();
            throw new AdapterFormatException($"{source}: {e.Message}", e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
