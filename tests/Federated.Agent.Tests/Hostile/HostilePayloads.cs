using System.Security.Cryptography;
using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.Core.Formats.Safetensors;
using Federated.Protocol.V1;
using static TorchSharp.torch;

namespace Federated.Agent.Tests.Hostile;

/// <summary>Adapter payloads a malicious coordinator serves, for the tiny preset (hidden 64, kv 32, mlp 176, two layers).</summary>
public static class HostilePayloads
{
    public const string BaseModel = "tiny-llama";

    /// <summary>The tiny model's layers of <paramref name="targets"/>, as the agent's local model has them.</summary>
    public static IReadOnlyList<ModuleShape> TinyLayers(params string[] targets) =>
        ModuleShape.LlamaFamily(64, 2, targets.Length > 0 ? targets : ["q_proj", "v_proj"], kvDim: 32, intermediate: 176);

    /// <summary>A well-formed plain payload over <paramref name="shapes"/>.</summary>
    public static byte[] Plain(IReadOnlyList<ModuleShape> shapes, int rank = 2, long seed = 1)
    {
        using var adapter = RandomAdapters.Create(shapes, rank, alpha: 2 * rank, seed, baseModel: BaseModel);
        return AdapterPayload.ToBytes(adapter);
    }

    /// <summary>A plain payload for q_proj and v_proj whose dimensions are not the tiny model's (96 x 48 instead of 64 x 64 and 64 x 32).</summary>
    public static byte[] WrongShapes() =>
        Plain([.. TinyLayers("q_proj", "v_proj").Select(s => s with { InFeatures = 48, OutFeatures = 96 })]);

    /// <summary>
    /// A topk payload of about a kilobyte that declares q_proj factors of 8 x 250,000,000 and 250,000,000 x 8: expanded
    /// to dense float32 it is 16 GB, one stored entry each. Its header declares those shapes, as the format requires.
    /// </summary>
    public static byte[] CompressedBomb()
    {
        const long huge = 250_000_000;
        string module = "model.layers.0.self_attn.q_proj";
        var tensors = new List<(string, Tensor)>();
        foreach (var (key, rows, columns) in new[] { ($"base_model.model.{module}.lora_A.weight", 8L, huge), ($"base_model.model.{module}.lora_B.weight", huge, 8L) })
        {
            tensors.Add(($"{key}.shape", tensor(new[] { rows, columns })));
            tensors.Add(($"{key}.indices", tensor(new[] { 0 })));
            tensors.Add(($"{key}.values", tensor(new[] { 1f })));
        }
        var metadata = new Dictionary<string, string>
        {
            [CompressedAdapterFile.SchemeMetadataKey] = "topk",
            [CompressedAdapterFile.ModulesMetadataKey] = JsonSerializer.Serialize(new[] { new { name = module, alpha = 16.0, rank = 8, @in = huge, @out = huge } }),
            [CompressedAdapterFile.RsLoraMetadataKey] = "false",
            [CompressedAdapterFile.BaseModelMetadataKey] = BaseModel,
        };
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, tensors, metadata);
        foreach (var (_, t) in tensors) t.Dispose();
        return buffer.ToArray();
    }

    public static AdapterRef RefOf(byte[] payload) => new() { Sha256 = Convert.ToHexStringLower(SHA256.HashData(payload)), Size = payload.Length };
}
