using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.Core.Formats.Safetensors;
using Federated.Benchmarks.Security.Coordinator;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Security;

/// <summary>The payloads the attacks send: genuine adapters for a federation's shapes, and hostile ones crafted from the format.</summary>
static class AttackPayloads
{
    const string PeftPrefix = "base_model.model.";

    public static string Sha256(byte[] payload) => Convert.ToHexStringLower(SHA256.HashData(payload));

    /// <summary>A real AdapterPayload of random factors for <paramref name="spec"/>'s shapes at its rank.</summary>
    public static byte[] Adapter(FederationSpec spec, long seed)
    {
        using var adapter = RandomAdapters.Create(ModuleShape.LlamaFamily(spec.Hidden, spec.Layers, spec.TargetModules), spec.Rank, alpha: 2 * spec.Rank,
            seed, baseModel: FederationSpec.BaseModel);
        return AdapterPayload.ToBytes(adapter);
    }

    /// <summary>
    /// A ~1 KB top-k compressed adapter (the format <see cref="CompressedAdapterFile"/> writes: per factor a shape, the kept
    /// positions and their values) for one real module, whose factors declare <paramref name="rank"/> x <paramref name="features"/>
    /// and <paramref name="features"/> x <paramref name="rank"/>: expanded to dense float32 that is 8 * rank * features bytes. Its
    /// header declares those shapes, as the format requires, so the defence measured is the shape check, not a format error.
    /// </summary>
    public static byte[] DecompressionBomb(string module = "model.layers.0.self_attn.q_proj", int rank = 8192, int features = 16384)
    {
        using var scope = NewDisposeScope();
        var tensors = new List<(string, Tensor)>();
        foreach (var (factor, rows, columns) in new[] { ("lora_A", rank, features), ("lora_B", features, rank) })
        {
            string key = $"{PeftPrefix}{module}.{factor}.weight";
            tensors.Add(($"{key}.shape", tensor(new long[] { rows, columns })));
            tensors.Add(($"{key}.indices", tensor(new[] { 0, 1, 2, 3 })));
            tensors.Add(($"{key}.values", tensor(new[] { 0.1f, 0.2f, 0.3f, 0.4f })));
        }
        var metadata = new Dictionary<string, string>
        {
            [CompressedAdapterFile.SchemeMetadataKey] = "topk",
            [CompressedAdapterFile.ModulesMetadataKey] = JsonSerializer.Serialize(new[] { new { name = module, alpha = 16.0, rank, @in = features, @out = features } }),
            [CompressedAdapterFile.RsLoraMetadataKey] = "false",
            [CompressedAdapterFile.BaseModelMetadataKey] = FederationSpec.BaseModel,
        };
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, tensors, metadata);
        return buffer.ToArray();
    }

    /// <summary>
    /// <paramref name="payload"/> (a real adapter) whose PEFT config carries <paramref name="count"/> rank_pattern regexes that
    /// match no module and backtrack polynomially on every module path before failing: ~100 bytes each.
    /// </summary>
    public static byte[] WithPathologicalPatterns(byte[] payload, int count = 4000) => RewriteMetadata(payload, metadata =>
    {
        var config = JsonNode.Parse(metadata[AdapterPayload.ConfigMetadataKey])!.AsObject();
        var patterns = new JsonObject();
        string padding = new('z', 80);
        for (int i = 0; i < count; i++)
            patterns[$"(?:.*.*.*Q{i}|{padding})"] = 4; // '.*' thrice before a letter no path holds: O(n^3) steps per start
        config["rank_pattern"] = patterns;
        metadata[AdapterPayload.ConfigMetadataKey] = config.ToJsonString();
    });

    /// <summary>The same safetensors file with its <c>__metadata__</c> entries changed (tensor offsets are relative to the data, so they stay valid).</summary>
    public static byte[] RewriteMetadata(byte[] payload, Action<Dictionary<string, string>> change)
    {
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(payload));
        var header = JsonNode.Parse(payload.AsSpan(8, headerLength))!.AsObject();
        var metadata = header["__metadata__"]!.AsObject().ToDictionary(e => e.Key, e => e.Value!.GetValue<string>());
        change(metadata);
        header["__metadata__"] = new JsonObject(metadata.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value))));
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Padded with spaces to a multiple of 8, as the official writer aligns the data.
        int padded = (json.Length + 7) / 8 * 8;
        var result = new byte[8 + padded + payload.Length - 8 - headerLength];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.CopyTo(result, 8);
        result.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        payload.AsSpan(8 + headerLength).CopyTo(result.AsSpan(8 + padded));
        return result;
    }
}
