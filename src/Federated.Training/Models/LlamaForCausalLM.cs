using Federated.Core.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// A Llama-family causal language model with HF tensor names (<c>model.embed_tokens.weight</c>,
/// <c>model.layers.0.self_attn.q_proj.weight</c>, <c>model.norm.weight</c>, <c>lm_head.weight</c>), so
/// Llama, Qwen2 and Mistral checkpoints load directly. With tied embeddings there is no lm_head.
/// Every base weight (embeddings, linear layers, norms, lm_head) is held and computed in <see cref="ComputeDtype"/>:
/// float32, or bfloat16 for mixed precision as HF runs a bf16 model (norms and the loss in float32).
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    /// <summary>Labels with this value are left out of the loss (PyTorch's ignore_index).</summary>
    public const long IgnoreIndex = -100;

#pragma warning disable IDE1006 // HF module names
    readonly LlamaModel model;
    readonly Linear? lm_head;
#pragma warning restore IDE1006

    /// <param name="dtype">float32 or bfloat16 (see <see cref="ComputePrecision"/>).</param>
    public LlamaForCausalLM(LlamaConfig config, ScalarType dtype = ScalarType.Float32) : base(nameof(LlamaForCausalLM))
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"a model computes in float32 or bfloat16, not {dtype}");
        Config = config;
        ComputeDtype = dtype;
        model = new LlamaModel(config, dtype);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, dtype: dtype);
        RegisterComponents();
    }

    public LlamaConfig Config { get; }

    /// <summary>The dtype of the base weights and activations; LoRA branches are float32 regardless.</summary>
    public ScalarType ComputeDtype { get; }

    /// <summary>
    /// A randomly initialised model, as HF initialises one: N(0, initializer_range), norms at one, biases at zero.
    /// The values are drawn in float32, so a bf16 model is the same seed's float32 model rounded.
    /// </summary>
    public static LlamaForCausalLM Create(LlamaConfig config, long seed, ScalarType dtype = ScalarType.Float32)
    {
        var result = new LlamaForCausalLM(config, dtype);
        using var generator = new Generator((ulong)seed);
        using var _ = no_grad();
        using var range = config.InitializerRange.ToScalar(); // held to the end of the calls (HeldScalars)
        foreach (var (name, p) in result.named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(HeldScalars.One);
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else
            {
                using var values = randn(p.shape, float32, generator: generator);
                p.copy_(values.mul_(range));
            }
        }
        return result;
    }

    /// <summary>Every linear layer LoRA can target, by its HF module path (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public IEnumerable<(string Name, LoraLinear Layer)> Projections() => model.Projections().Select(p => ("model." + p.Name, p.Layer));

    /// <param name="inputIds">[B, T] token ids (long).</param>
    /// <returns>Logits [B, T, vocab] in <see cref="ComputeDtype"/>; losses cast them to float32 first.</returns>
    public override Tensor forward(Tensor inputIds) => forward(inputIds, layout: null);

    /// <param name="layout">Positions and attention mask of a packed batch; null: an ordinary right-padded causal batch.</param>
    public Tensor forward(Tensor inputIds, PackedLayout? layout)
    {
        using var scope = NewDisposeScope();
        var hidden = model.forward(inputIds, layout);
        var logits = lm_head is null ? nn.functional.linear(hidden, model.EmbeddingWeight) : lm_head.forward(hidden);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Mean next-token cross-entropy: logits at t predict labels at t + 1; <see cref="IgnoreIndex"/> labels do not count.</summary>
    public Tensor Loss(Tensor inputIds, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var logits = forward(inputIds);
        return nn.functional.cross_entropy(logits.view(-1, logits.size(2)).to(float32), NextTokenTargets(labels).view(-1),
            ignore_index: IgnoreIndex).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What each position predicts: labels shifted left by one, <see cref="IgnoreIndex"/> at the last position. Shifting
    /// the labels rather than cutting the logits keeps the logits one contiguous view: no copy forward or backward.
    /// </summary>
    public static Tensor NextTokenTargets(Tensor labels) =>
        cat([labels.narrow(1, 1, labels.size(1) - 1), full(labels.size(0), 1, s_ignore, labels.dtype, labels.device)], 1);

    static readonly Scalar s_ignore = IgnoreIndex.ToScalar(); // held for the process (HeldScalars)
}
