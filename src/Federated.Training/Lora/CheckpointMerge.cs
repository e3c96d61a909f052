using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Training.Models;
using static TorchSharp.torch;

namespace Federated.Training.Lora;

/// <summary>
/// A base checkpoint with adapters merged in, written as a new standalone HF checkpoint (what serving stacks without
/// LoRA support load): W + sum_j s_j B_j A_j per adapted layer, summed in float32 and rounded once to the base's stored dtype.
/// The checkpoint is written to a staging directory beside the target and renamed into place when complete, so the
/// target never holds half a model.
/// </summary>
public static class CheckpointMerge
{
    /// <summary>Files besides the weights that a checkpoint's users need, copied unchanged when present.</summary>
    public static readonly IReadOnlyList<string> CopiedFiles =
    [
        HfCheckpoint.ConfigFileName, "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json", "vocab.json", "merges.txt",
    ];

    /// <param name="maxShardBytes">Shard the weights above this many bytes (HF's model-0000k-of-0000n layout with an index); null: one file.</param>
    /// <param name="progress">One line per step, for a terminal.</param>
    /// <exception cref="ModelFormatException">The base checkpoint is missing or malformed.</exception>
    /// <exception cref="AdapterShapeException">An adapter's module is not a linear layer of the base, or has another shape.</exception>
    /// <exception cref="IOException">The target exists and is not empty.</exception>
    public static MergedCheckpoint Write(string baseDirectory, IReadOnlyList<LoraAdapter> adapters, string outDirectory,
        long? maxShardBytes = null, Action<string>? progress = null)
    {
        if (adapters.Count == 0) throw new ArgumentException("no adapters to merge", nameof(adapters));
        if (maxShardBytes is <= 0) throw new ArgumentException($"the shard size must be positive, got {maxShardBytes}", nameof(maxShardBytes));
        string target = Path.GetFullPath(outDirectory);
        if (target == Path.GetFullPath(baseDirectory))
            throw new ArgumentException($"the output directory '{outDirectory}' is the base model's: write the merged model elsewhere");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new IOException($"the output directory '{outDirectory}' already exists and is not empty");

        var dtype = HfCheckpoint.StoredDType(baseDirectory);
        // float32 weights: every adapter's delta adds to them unrounded, and the sum is rounded once when saved.
        using var model = HfCheckpoint.Load(baseDirectory, ScalarType.Float32);
        long parameters = model.parameters().Sum(p => p.numel());
        progress?.Invoke($"loaded {baseDirectory}: {parameters:N0} parameters, stored as {AdapterDTypes.Name(dtype)}");
        for (int j = 0; j < adapters.Count; j++)
        {
            LoraInjection.Merge(model, adapters[j]);
            progress?.Invoke($"merged adapter {j + 1}/{adapters.Count}: {adapters[j].Modules.Count} modules, ranks {string.Join("/", adapters[j].Modules.Select(m => m.Rank).Distinct().Order())}");
        }

        string parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{outDirectory}' has no parent directory");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.staging");
        try
        {
            HfCheckpoint.Save(model, staging, dtype, maxShardBytes);
            // The base's own config (with any fields this loader does not model) describes the merged model as well.
            foreach (var name in CopiedFiles)
                if (File.Exists(Path.Combine(baseDirectory, name)))
                    File.Copy(Path.Combine(baseDirectory, name), Path.Combine(staging, name), overwrite: true);
            var weightFiles = Directory.GetFiles(staging, "model*.safetensors");
            long bytes = weightFiles.Sum(f => new FileInfo(f).Length);
            if (Directory.Exists(target)) Directory.Delete(target);
            Directory.Move(staging, target);
            progress?.Invoke($"wrote {weightFiles.Length} weight file(s), {bytes:N0} bytes");
            return new MergedCheckpoint(target, parameters, dtype, weightFiles.Length, bytes, adapters.Sum(a => a.Modules.Count));
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }
}

/// <summary>What <see cref="CheckpointMerge.Write"/> wrote.</summary>
/// <param name="WeightFiles">1 for a single model.safetensors, else the number of shards.</param>
/// <param name="MergedModules">Adapter modules merged, over all adapters.</param>
public sealed record MergedCheckpoint(string Directory, long Parameters, ScalarType DType, int WeightFiles, long WeightBytes, int MergedModules);
