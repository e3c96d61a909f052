using System.Text;
using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;
using Federated.IO;
using static TorchSharp.torch;

namespace Federated.Core.Formats.Peft;

/// <summary>Reads and writes HF PEFT LoRA adapter directories (adapter_model.safetensors + adapter_config.json).</summary>
public static class PeftAdapterDirectory
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>
    /// Safetensors metadata entry holding the module order as a JSON array: safetensors sorts tensors by name,
    /// which would otherwise lose it. Files without it (e.g. written by PEFT) get <see cref="ModulePathOrder"/>.
    /// </summary>
    public const string ModuleOrderMetadataKey = "federated.module_order";

    /// <summary>Reads an adapter: ranks from the tensors (checked against the config), alphas and rsLoRA from the config.</summary>
    /// <exception cref="AdapterFormatException">The directory or a file is missing, malformed, or the two files disagree.</exception>
    public static LoraAdapter Read(string directory)
    {
        var config = ReadConfig(directory);
        var configPath = Path.Combine(directory, ConfigFileName);
        var weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath))
            throw new AdapterFormatException(File.Exists(Path.Combine(directory, "adapter_model.bin"))
                ? $"{directory}: {WeightsFileName} is missing; only the pickle-based adapter_model.bin is present, which is not supported"
                : $"{directory}: {WeightsFileName} is missing");

        var file = SafetensorsReader.Read(weightsPath);
        try
        {
            return Build(file, config, weightsPath, configPath);
        }
        catch (AdapterShapeException e)
        {
            file.Dispose();
            throw new AdapterFormatException($"{weightsPath}: {e.Message}", e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads only the config, e.g. to use as the template of <see cref="Write"/>.</summary>
    /// <exception cref="AdapterFormatException">The directory or config is missing, malformed, or not a LoRA config.</exception>
    public static PeftAdapterConfig ReadConfig(string directory)
    {
        if (!Directory.Exists(directory))
            throw new AdapterFormatException($"adapter directory '{directory}' does not exist");
        var path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path))
            throw new AdapterFormatException($"{directory}: {ConfigFileName} is missing");

        PeftAdapterConfig config;
        try
        {
            config = PeftAdapterConfig.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new AdapterFormatException($"{path}: malformed JSON: {e.Message}", e);
        }
        if (config.PeftType != "LORA")
            throw new AdapterFormatException($"{path}: peft_type is '{config.PeftType}', but only LORA adapters are supported");
        return config;
    }

    /// <summary>
    /// Writes <paramref name="adapter"/> into <paramref name="directory"/> (created if needed), each file atomically.
    /// Fields of <paramref name="template"/> that do not describe the weights (task_type, lora_dropout, unknown fields...) are kept.
    /// </summary>
    public static void Write(LoraAdapter adapter, string directory, PeftAdapterConfig? template = null)
    {
        var config = ConfigFor(adapter, template);
        Directory.CreateDirectory(directory);

        var tensors = adapter.Modules.SelectMany(m => new[] { (PeftKeys.A(m.Name), m.A), (PeftKeys.B(m.Name), m.B) });
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt", // What PEFT writes; transformers checks it when loading safetensors.
            [ModuleOrderMetadataKey] = JsonSerializer.Serialize(adapter.Modules.Select(m => m.Name)),
        };
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFileName), tensors, metadata);
        var json = Encoding.UTF8.GetBytes(config.ToJson() + "\n");
        DurableFile.WriteBytes(Path.Combine(directory, ConfigFileName), json);
    }

    /// <summary>
    /// The config PEFT needs to rebuild <paramref name="adapter"/>: the most common rank and alpha as r / lora_alpha,
    /// every other module in rank_pattern / alpha_pattern under its full path.
    /// </summary>
    internal static PeftAdapterConfig ConfigFor(LoraAdapter adapter, PeftAdapterConfig? template = null)
    {
        var config = template?.Clone() ?? new PeftAdapterConfig();
        var r = adapter.PredominantRank;
        var alpha = adapter.Modules.GroupBy(m => m.Alpha)
            .OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First().Key;

        config.PeftType = "LORA";
        config.BaseModelNameOrPath = adapter.BaseModel ?? config.BaseModelNameOrPath;
        config.R = r;
        config.LoraAlpha = alpha;
        config.UseRsLora = adapter.UseRsLora;
        config.TargetModules = [.. adapter.TargetModules];
        config.RankPattern = new(adapter.Modules.Where(m => m.Rank != r).Select(m => KeyValuePair.Create(m.Name, m.Rank)));
        config.AlphaPattern = new(adapter.Modules.Where(m => m.Alpha != alpha).Select(m => KeyValuePair.Create(m.Name, m.Alpha)));
        // The weights file holds LoRA factors only: no trained biases, no fully saved modules.
        config.Bias = "none";
        config.ModulesToSave = null;
        config.InferenceMode = true;

        // Pattern keys are regexes matching path suffixes, so in odd layouts one module's key can capture another.
        var ranks = new PeftPattern<int>(config.RankPattern, "rank_pattern", ConfigFileName);
        var alphas = new PeftPattern<double>(config.AlphaPattern, "alpha_pattern", ConfigFileName);
        foreach (var m in adapter.Modules)
        {
            var (rank, _) = Resolve(ranks, m.Name, config.R, "r");
            var (a, _) = Resolve(alphas, m.Name, config.LoraAlpha, "lora_alpha");
            if (rank != m.Rank || a != m.Alpha)
                throw new AdapterFormatException(
                    $"module '{m.Name}' (rank {m.Rank}, alpha {m.Alpha}) would be read back by PEFT as rank {rank}, alpha {a}: its pattern keys collide with another module's");
        }
        return config;
    }

    internal static LoraAdapter Build(SafetensorsFile file, PeftAdapterConfig config, string weightsPath, string configPath)
    {
        var layout = Layout(file.Tensors.Select(t => (t.Name, t.Tensor.dtype, t.Tensor.shape)), file.Metadata, config, weightsPath, configPath);
        var tensors = file.Tensors.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);
        return new LoraAdapter(layout.Select(m => new LoraModule(m.Name, tensors[m.AKey], tensors[m.BKey], m.Alpha, config.UseRsLora)), config.BaseModelNameOrPath);
    }

    /// <summary>
    /// Every structural check of <see cref="Build"/>, on tensor names, dtypes and shapes alone: what the adapter would be,
    /// without its data. Shared by reading (then the tensors are attached) and by header-only inspection of uploads.
    /// </summary>
    /// <param name="knownModules">
    /// When the base model is known: its target layers. A module outside it is refused before the config's patterns are
    /// matched, so the patterns' cost is bounded by the model, not by the payload.
    /// </param>
    internal static List<ModuleLayout> Layout(IEnumerable<(string Key, ScalarType DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string> metadata,
        PeftAdapterConfig config, string weightsPath, string configPath, IReadOnlySet<string>? knownModules = null)
    {
        var factors = new Dictionary<string, (string? AKey, TensorInfo? A, string? BKey, TensorInfo? B)>(StringComparer.Ordinal);
        foreach (var (key, dtype, shape) in tensors)
        {
            if (!PeftKeys.TryParse(key, out var module, out var isA))
                throw new AdapterFormatException(
                    $"{weightsPath}: tensor '{key}' is not a LoRA factor (expected {PeftKeys.Prefix}<module>.lora_A.weight or .lora_B.weight)");
            var f = factors.GetValueOrDefault(module);
            var existing = isA ? f.AKey : f.BKey;
            if (existing is not null)
                throw new AdapterFormatException($"{weightsPath}: module '{module}' has two lora_{(isA ? 'A' : 'B')} tensors, '{existing}' and '{key}'");
            var info = new TensorInfo(dtype, shape);
            factors[module] = isA ? f with { AKey = key, A = info } : f with { BKey = key, B = info };
        }
        if (factors.Count == 0)
            throw new AdapterFormatException($"{weightsPath}: the file holds no LoRA tensors");
        if (knownModules is not null && factors.Keys.FirstOrDefault(m => !knownModules.Contains(m)) is { } unknown)
            throw new AdapterFormatException($"{weightsPath}: module '{unknown}' is not one of the base model's {knownModules.Count} target layers");

        var ranks = new PeftPattern<int>(config.RankPattern, "rank_pattern", configPath);
        var alphas = new PeftPattern<double>(config.AlphaPattern, "alpha_pattern", configPath);
        var modules = new List<ModuleLayout>(factors.Count);
        foreach (var name in Order(factors.Keys, metadata))
        {
            var (aKey, a, bKey, b) = factors[name];
            if (a is null || b is null)
                throw new AdapterFormatException(a is null
                    ? $"{weightsPath}: module '{name}' has lora_B ('{bKey}') but no lora_A"
                    : $"{weightsPath}: module '{name}' has lora_A ('{aKey}') but no lora_B");
            if (a.Shape.Length != 2 || b.Shape.Length != 2)
                throw new AdapterFormatException($"{weightsPath}: module '{name}': lora_A is {Shape(a.Shape)} and lora_B is {Shape(b.Shape)}, both must be matrices");
            if (a.Shape[0] != b.Shape[1])
                throw new AdapterFormatException(
                    $"{weightsPath}: module '{name}': lora_A {Shape(a.Shape)} has {a.Shape[0]} rows but lora_B {Shape(b.Shape)} has {b.Shape[1]} columns; both must equal the rank");
            if (a.Shape.Concat(b.Shape).Any(d => d > int.MaxValue))
                throw new AdapterFormatException($"{weightsPath}: module '{name}': lora_A {Shape(a.Shape)} or lora_B {Shape(b.Shape)} has a dimension over {int.MaxValue}");

            var rank = (int)a.Shape[0];
            var (configRank, rankSource) = Resolve(ranks, name, config.R, "r");
            if (configRank != rank)
                throw new AdapterFormatException(
                    $"{configPath}: module '{name}' has rank {rank} in {WeightsFileName}, but {rankSource} says {configRank}");
            var (alpha, _) = Resolve(alphas, name, config.LoraAlpha, "lora_alpha");
            // What LoraModule refuses, refused here too, so that a description promises a readable adapter.
            string? invalid = rank == 0 ? "rank must be positive"
                : a.DType != b.DType ? $"A is {a.DType} but B is {b.DType}"
                : !AdapterDTypes.IsSupported(a.DType) ? $"dtype {a.DType} is not one of float32, float16, bfloat16"
                : !double.IsFinite(alpha) || alpha == 0 ? $"alpha must be finite and non-zero, got {alpha}"
                : null;
            if (invalid is not null)
                throw new AdapterFormatException($"{weightsPath}: module '{name}': {invalid}");
            modules.Add(new ModuleLayout(name, aKey!, bKey!, rank, (int)a.Shape[1], (int)b.Shape[0], a.DType, alpha));
        }
        return modules;
    }

    sealed record TensorInfo(ScalarType DType, long[] Shape);

    internal sealed record ModuleLayout(string Name, string AKey, string BKey, int Rank, int InFeatures, int OutFeatures, ScalarType DType, double Alpha);

    /// <summary>A pattern value if a key matches, else the default; with where it came from, for messages.</summary>
    static (T Value, string Source) Resolve<T>(PeftPattern<T> pattern, string module, T fallback, string fallbackField) =>
        pattern.TryMatch(module, out var key, out var value) ? (value, $"{pattern.Field} key '{key}'") : (fallback, fallbackField);

    /// <summary>The saved order where the metadata has one (it is only a hint, so stale or unreadable entries are ignored), else path order.</summary>
    static IEnumerable<string> Order(IEnumerable<string> modules, IReadOnlyDictionary<string, string> metadata)
    {
        List<string?>? saved = null;
        if (metadata.TryGetValue(ModuleOrderMetadataKey, out var json))
        {
            try { saved = JsonSerializer.Deserialize<List<string?>>(json); }
            catch (JsonException) { }
        }
        var position = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in saved ?? [])
            if (name is not null)
                position.TryAdd(name, position.Count);
        return modules.OrderBy(m => position.GetValueOrDefault(m, int.MaxValue)).ThenBy(m => m, ModulePathOrder.Instance);
    }

    static string Shape(long[] shape) => "[" + string.Join("x", shape) + "]";
}
