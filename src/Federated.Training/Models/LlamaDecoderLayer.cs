using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>Pre-norm decoder block: x + attn(norm(x)), then h + mlp(norm(h)).</summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // HF module names
    readonly RmsNorm input_layernorm, post_attention_layernorm;
    readonly LlamaAttention self_attn;
    readonly LlamaMlp mlp;
#pragma warning restore IDE1006

    public LlamaDecoderLayer(LlamaConfig config, ScalarType dtype) : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        self_attn = new LlamaAttention(config, dtype);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        mlp = new LlamaMlp(config, dtype);
        RegisterComponents();
    }

    public IEnumerable<(string Name, LoraLinear Layer)> Projections() =>
        self_attn.Projections().Select(p => ("self_attn." + p.Name, p.Layer))
            .Concat(mlp.Projections().Select(p => ("mlp." + p.Name, p.Layer)));

    public override Tensor forward(Tensor x, Tensor cos, Tensor signedSin) => forward(x, cos, signedSin, mask: null);

    /// <param name="mask">The attention mask of a packed batch (see <see cref="LlamaAttention"/>); null: causal.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor signedSin, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        // add with a held alpha, not `+` (see HeldScalars)
        var h = x.add(self_attn.forward(input_layernorm.forward(x), cos, signedSin, mask), HeldScalars.One);
        return h.add(mlp.forward(post_attention_layernorm.forward(h)), HeldScalars.One).MoveToOuterDisposeScope();
    }
}
