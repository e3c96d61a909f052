using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Federated.Core.Formats.Peft;

/// <summary>
/// <c>adapter_config.json</c> of a PEFT LoRA adapter, with PEFT's field names and defaults.
/// Fields this class does not model are kept in <see cref="Extra"/> and written back unchanged.
/// </summary>
public sealed class PeftAdapterConfig
{
    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        // A null where PEFT never writes one (e.g. "r": null) is a malformed config, not a default.
        RespectNullableAnnotations = true,
        // Pattern keys are regular expressions; keep them readable ('+' would otherwise become \u002B).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    [JsonPropertyName("peft_type")] public string? PeftType { get; set; } = "LORA";
    [JsonPropertyName("task_type")] public string? TaskType { get; set; } = "CAUSAL_LM";
    [JsonPropertyName("base_model_name_or_path")] public string? BaseModelNameOrPath { get; set; }
    [JsonPropertyName("r")] public int R { get; set; } = 8;
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; set; } = 8;
    [JsonPropertyName("target_modules")] public List<string>? TargetModules { get; set; }
    [JsonPropertyName("use_rslora")] public bool UseRsLora { get; set; }

    /// <summary>Per-module ranks; keys are regexes matched against module paths, first match wins (so order matters).</summary>
    [JsonPropertyName("rank_pattern")] public OrderedDictionary<string, int> RankPattern { get; set; } = [];

    /// <summary>Per-module alphas, matched like <see cref="RankPattern"/>.</summary>
    [JsonPropertyName("alpha_pattern")] public OrderedDictionary<string, double> AlphaPattern { get; set; } = [];

    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; set; }
    [JsonPropertyName("bias")] public string? Bias { get; set; } = "none";
    [JsonPropertyName("fan_in_fan_out")] public bool FanInFanOut { get; set; }
    [JsonPropertyName("inference_mode")] public bool InferenceMode { get; set; } = true;
    [JsonPropertyName("modules_to_save")] public List<string>? ModulesToSave { get; set; }

    /// <summary>Every other field (e.g. <c>revision</c>, <c>layers_to_transform</c>, <c>use_dora</c>), preserved verbatim.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement> Extra { get; set; } = [];

    /// <exception cref="JsonException">The text is not JSON, not an object, or a field has the wrong type.</exception>
    public static PeftAdapterConfig Parse(string json) =>
        JsonSerializer.Deserialize<PeftAdapterConfig>(json, Options) ?? throw new JsonException("the config is null");

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>A deep copy, so a config used as a template is never modified.</summary>
    public PeftAdapterConfig Clone() => Parse(ToJson());
}
