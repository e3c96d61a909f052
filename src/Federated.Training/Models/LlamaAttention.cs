using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// Grouped-query self-attention: H query heads share H_kv key/value heads, rotary positions on q and k,
/// causal scaled_dot_product_attention, all in the activation dtype (bf16 on a bf16 base, as HF runs it).
/// Inputs are right-padded, so the causal mask alone keeps every real token from seeing padding; a packed batch
/// (<see cref="PackedLayout"/>) brings its own mask instead.
/// </summary>
public sealed class LlamaAttention : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // HF module names
    readonly LoraLinear q_proj, k_proj, v_proj, o_proj;
#pragma warning restore IDE1006
    readonly int _heads, _kvHeads, _headDim;

    public LlamaAttention(LlamaConfig config, ScalarType dtype) : base(nameof(LlamaAttention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.KeyValueHeads;
        _headDim = config.HeadDim;
        q_proj = new LoraLinear(config.HiddenSize, _heads * _headDim, config.QkvBias, dtype);
        k_proj = new LoraLinear(config.HiddenSize, _kvHeads * _headDim, config.QkvBias, dtype);
        v_proj = new LoraLinear(config.HiddenSize, _kvHeads * _headDim, config.QkvBias, dtype);
        o_proj = new LoraLinear(_heads * _headDim, config.HiddenSize, config.OutputBias, dtype);
        RegisterComponents();
    }

    public IEnumerable<(string Name, LoraLinear Layer)> Projections() =>
        [("q_proj", q_proj), ("k_proj", k_proj), ("v_proj", v_proj), ("o_proj", o_proj)];

    /// <param name="x">[B, T, hidden]</param>
    public override Tensor forward(Tensor x, Tensor cos, Tensor signedSin) => forward(x, cos, signedSin, mask: null);

    /// <param name="mask">[B, 1, T, T] bool, true where a query may attend a key; null: causal.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor signedSin, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long batch = x.size(0), length = x.size(1);
        Tensor Heads(Tensor t, int count) => t.view(batch, length, count, _headDim).transpose(1, 2);
        var q = RotaryEmbedding.Apply(Heads(q_proj.forward(x), _heads), cos, signedSin);
        var k = RotaryEmbedding.Apply(Heads(k_proj.forward(x), _kvHeads), cos, signedSin);
        var v = Heads(v_proj.forward(x), _kvHeads);
        if (_kvHeads != _heads)
        {
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }
        var attended = mask is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        var merged = attended.transpose(1, 2).reshape(batch, length, _heads * _headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }
}
