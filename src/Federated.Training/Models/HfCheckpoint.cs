using System.Text.Json;
using System.Text.Json.Nodes;
using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// HF model directories: <c>config.json</c> plus <c>model.safetensors</c>, or shards
/// <c>model-0000k-of-0000n.safetensors</c> listed in <c>model.safetensors.index.json</c>; fp32, fp16 or bf16
/// on disk, converted on load to the dtype the model computes in (float32, or bfloat16 for a bf16 base). Nothing is ever downloaded.
/// </summary>
public static class HfCheckpoint
{
    public const string ConfigFileName = "config.json";
    public const string WeightsFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    /// <exception cref="ModelFormatException">A file is missing or malformed, a tensor is missing, unexpected or mis-shaped.</exception>
    /// <param name="dtype">The model's <see cref="LlamaForCausalLM.ComputeDtype"/>: the weights are held only in it, never also in float32.</param>
    public static LlamaForCausalLM Load(string directory, ScalarType dtype = ScalarType.Float32)
    {
        if (!Directory.Exists(directory)) throw new ModelFormatException($"model directory '{directory}' does not exist");
        var config = LlamaConfig.Read(Path.Combine(directory, ConfigFileName));
        var model = new LlamaForCausalLM(config, dtype);
        try
        {
            var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var loaded = new HashSet<string>(StringComparer.Ordinal);
            using var _ = no_grad();
            foreach (var file in WeightFiles(directory))
            {
                using var weights = SafetensorsReader.Read(file);
                foreach (var (name, tensor) in weights.Tensors)
                {
                    if (!parameters.TryGetValue(name, out var target))
                    {
                        // Older HF checkpoints store rotary buffers; tied checkpoints may repeat the embedding as lm_head.
                        if (name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal) || (name == "lm_head.weight" && config.TieWordEmbeddings)) continue;
                        throw new ModelFormatException($"{file}: tensor '{name}' is not part of a {config.ModelType} model with this config");
                    }
                    if (!tensor.shape.SequenceEqual(target.shape))
                        throw new ModelFormatException(
                            $"{file}: tensor '{name}' is [{string.Join("x", tensor.shape)}] but the config makes it [{string.Join("x", target.shape)}]");
                    target.copy_(tensor);
                    loaded.Add(name);
                }
            }
            var missing = parameters.Keys.Where(n => !loaded.Contains(n)).ToList();
            if (missing.Count > 0)
                throw new ModelFormatException($"{directory}: the checkpoint lacks '{missing[0]}'{(missing.Count > 1 ? $" and {missing.Count - 1} more tensors" : "")}");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Writes config.json and the weights in <paramref name="dtype"/>; shards them when <paramref name="maxShardBytes"/> is set.</summary>
    public static void Save(LlamaForCausalLM model, string directory, ScalarType dtype = ScalarType.Float32, long? maxShardBytes = null)
    {
        Directory.CreateDirectory(directory);
        model.Config.Validated(directory);
        (model.Config with { TorchDType = AdapterDTypes.Name(dtype) }).Write(Path.Combine(directory, ConfigFileName));
        using var scope = NewDisposeScope();
        var tensors = model.named_parameters().Select(p => (p.name, p.parameter.detach().to(dtype))).ToList();
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };

        var shards = new List<List<(string Name, Tensor Tensor)>> { new() };
        long shardBytes = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Item2.numel() * t.Item2.element_size();
            if (maxShardBytes is { } max && shardBytes > 0 && shardBytes + bytes > max)
            {
                shards.Add([]);
                shardBytes = 0;
            }
            shards[^1].Add(t);
            shardBytes += bytes;
        }
        if (shards.Count == 1)
        {
            SafetensorsWriter.Write(Path.Combine(directory, WeightsFileName), shards[0], metadata);
            return;
        }
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafetensorsWriter.Write(Path.Combine(directory, file), shards[i], metadata);
            foreach (var (name, _) in shards[i]) weightMap[name] = file;
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.Item2.numel() * t.Item2.element_size()) },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(Path.Combine(directory, IndexFileName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>
    /// The dtype most of the checkpoint's weights are stored in, from the first weight file's header (no tensor is read):
    /// what a rewritten copy (e.g. with adapters merged) keeps, whatever the config's torch_dtype says or omits.
    /// </summary>
    /// <exception cref="ModelFormatException">No weight file, or a malformed header.</exception>
    public static ScalarType StoredDType(string directory)
    {
        if (!Directory.Exists(directory)) throw new ModelFormatException($"model directory '{directory}' does not exist");
        var (tensors, _) = SafetensorsReader.ReadHeader(WeightFiles(directory).First());
        return tensors.Where(t => AdapterDTypes.IsSupported(t.DType)).GroupBy(t => t.DType)
            .OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault(ScalarType.Float32);
    }

    /// <summary>The weight files of a directory: the index's shards in order, or the single file.</summary>
    static IEnumerable<string> WeightFiles(string directory)
    {
        string index = Path.Combine(directory, IndexFileName);
        if (!File.Exists(index))
        {
            string single = Path.Combine(directory, WeightsFileName);
            return File.Exists(single) ? [single] : throw new ModelFormatException($"{directory}: neither {WeightsFileName} nor {IndexFileName} is present");
        }
        JsonNode? json;
        try { json = JsonNode.Parse(File.ReadAllText(index)); }
        catch (JsonException e) { throw new ModelFormatException($"{index}: malformed JSON: {e.Message}", e); }
        if (json?["weight_map"] is not JsonObject map || map.Count == 0)
            throw new ModelFormatException($"{index}: no weight_map");
        var files = map.Select(entry => entry.Value?.GetValue<string>() ?? throw new ModelFormatException($"{index}: '{entry.Key}' maps to no file"))
            .Distinct().Order(StringComparer.Ordinal).Select(f => Path.Combine(directory, f)).ToList();
        foreach (var f in files)
            if (!File.Exists(f)) throw new ModelFormatException($"{index}: shard {Path.GetFileName(f)} is missing");
        return files;
    }
}
