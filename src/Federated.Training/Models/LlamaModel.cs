using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>The decoder stack under HF's <c>model.</c> prefix: embeddings, layers, final norm.</summary>
public sealed class LlamaModel : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // HF module names
    readonly Embedding embed_tokens;
    readonly ModuleList<LlamaDecoderLayer> layers;
    readonly RmsNorm norm;
#pragma warning restore IDE1006
    readonly RotaryEmbedding _rotary;

    public LlamaModel(LlamaConfig config, ScalarType dtype) : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize, dtype: dtype);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new LlamaDecoderLayer(config, dtype)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        _rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta);
        RegisterComponents();
    }

    public Tensor EmbeddingWeight => embed_tokens.weight!;

    public IEnumerable<(string Name, LoraLinear Layer)> Projections() =>
        layers.SelectMany((layer, i) => layer.Projections().Select(p => ($"layers.{i}.{p.Name}", p.Layer)));

    /// <param name="inputIds">[B, T] token ids</param>
    /// <returns>Final hidden states [B, T, hidden].</returns>
    public override Tensor forward(Tensor inputIds) => forward(inputIds, layout: null);

    /// <param name="layout">Positions and attention mask of a packed batch; null: positions 0..T-1, causal.</param>
    public Tensor forward(Tensor inputIds, PackedLayout? layout)
    {
        using var scope = NewDisposeScope();
        var h = embed_tokens.forward(inputIds);
        // cos/sin in the activation dtype, as HF applies them (sin with its first half negated; see RotaryEmbedding).
        var (cos, signedSin) = layout is null
            ? _rotary.Angles(inputIds.size(1), h.device, h.dtype)
            : _rotary.At(layout.Positions.to(h.device), h.device, h.dtype);
        var mask = layout?.Mask.to(h.device);
        foreach (var layer in layers) h = layer.forward(h, cos, signedSin, mask);
        return norm.forward(h).MoveToOuterDisposeScope();
    }
}
