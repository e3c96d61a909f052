using System.Text.Json;
using System.Text.Json.Serialization;

namespace Federated.Training.Models;

/// <summary>
/// The fields of an HF <c>config.json</c> that a Llama-family decoder (Llama, Qwen2, Mistral) needs.
/// Qwen2 puts biases on q/k/v (model_type "qwen2"); Llama's <c>attention_bias</c> puts them on all four.
/// Mistral's sliding window is not modelled: sequences here stay within it.
/// </summary>
public sealed record LlamaConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    [JsonPropertyName("head_dim")] public int? HeadDimOverride { get; init; }
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("torch_dtype")] public string? TorchDType { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }

    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;
    [JsonIgnore] public int HeadDim => HeadDimOverride ?? HiddenSize / NumAttentionHeads;
    /// <summary>q/k/v carry biases (Qwen2, or Llama with attention_bias).</summary>
    [JsonIgnore] public bool QkvBias => AttentionBias || ModelType == "qwen2";
    /// <summary>o_proj carries a bias (Llama with attention_bias only).</summary>
    [JsonIgnore] public bool OutputBias => AttentionBias;

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Reads and validates <c>config.json</c>.</summary>
    /// <exception cref="ModelFormatException">Missing, malformed or inconsistent.</exception>
    public static LlamaConfig Read(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException($"{path} is missing");
        LlamaConfig? config;
        try { config = JsonSerializer.Deserialize<LlamaConfig>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelFormatException($"{path}: malformed JSON: {e.Message}", e); }
        return (config ?? throw new ModelFormatException($"{path}: empty")).Validated(path);
    }

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");

    public LlamaConfig Validated(string source)
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new ModelFormatException($"{source}: {field} must be positive, got {value}");
        }
        if (ModelType is not ("llama" or "qwen2" or "mistral"))
            throw new ModelFormatException($"{source}: model_type '{ModelType}' is not a Llama-family decoder (llama, qwen2, mistral)");
        if (HiddenAct != "silu") throw new ModelFormatException($"{source}: hidden_act '{HiddenAct}' is not supported (silu)");
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(KeyValueHeads, "num_key_value_heads");
        if (NumAttentionHeads % KeyValueHeads != 0)
            throw new ModelFormatException($"{source}: num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {KeyValueHeads}");
        if (HeadDimOverride is null && HiddenSize % NumAttentionHeads != 0)
            throw new ModelFormatException($"{source}: hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}");
        if (HeadDim % 2 != 0) throw new ModelFormatException($"{source}: head_dim {HeadDim} must be even for rotary embeddings");
        return this;
    }

    /// <summary>Configurations of the same architecture for tests and CPU experiments (byte-level vocabulary).</summary>
    public static LlamaConfig Preset(string name) => name switch
    {
        "tiny" => new LlamaConfig
        {
            Architectures = ["LlamaForCausalLM"], VocabSize = 259, HiddenSize = 64, IntermediateSize = 176, NumHiddenLayers = 2,
            NumAttentionHeads = 4, NumKeyValueHeads = 2, MaxPositionEmbeddings = 512, RmsNormEps = 1e-5, TorchDType = "float32",
            BosTokenId = 256, EosTokenId = 257, PadTokenId = 258,
        },
        "small" => new LlamaConfig
        {
            Architectures = ["LlamaForCausalLM"], VocabSize = 259, HiddenSize = 256, IntermediateSize = 704, NumHiddenLayers = 4,
            NumAttentionHeads = 8, NumKeyValueHeads = 4, MaxPositionEmbeddings = 1024, RmsNormEps = 1e-5, TorchDType = "float32",
            BosTokenId = 256, EosTokenId = 257, PadTokenId = 258,
        },
        _ => throw new ArgumentException($"unknown preset '{name}' (expected tiny or small)"),
    };
}
