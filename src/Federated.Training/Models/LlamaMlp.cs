using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // HF module names
    readonly LoraLinear gate_proj, up_proj, down_proj;
#pragma warning restore IDE1006

    public LlamaMlp(LlamaConfig config, ScalarType dtype) : base(nameof(LlamaMlp))
    {
        gate_proj = new LoraLinear(config.HiddenSize, config.IntermediateSize, false, dtype);
        up_proj = new LoraLinear(config.HiddenSize, config.IntermediateSize, false, dtype);
        down_proj = new LoraLinear(config.IntermediateSize, config.HiddenSize, false, dtype);
        RegisterComponents();
    }

    public IEnumerable<(string Name, LoraLinear Layer)> Projections() =>
        [("gate_proj", gate_proj), ("up_proj", up_proj), ("down_proj", down_proj)];

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}
