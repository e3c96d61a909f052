using Federated.Core.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// RMSNorm as in HF Llama: x / sqrt(mean(x^2) + eps) computed in float32, cast back to the input dtype, times the
/// weight (held in the base's dtype, so a bf16 model's activations stay bf16).
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly double _eps;
#pragma warning disable IDE1006 // HF parameter names
    readonly Parameter weight;
#pragma warning restore IDE1006

    public RmsNorm(long size, double eps, ScalarType dtype = ScalarType.Float32) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = nn.Parameter(ones(size, dtype));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // The scalar is held to the end of the call (see NativeWork): no temporary a collection could free mid-operation.
        using var eps = _eps.ToScalar();
        var x32 = x.to(float32);
        var normalized = x32 * x32.pow(HeldScalars.Two).mean([-1], keepdim: true).add(eps, HeldScalars.One).rsqrt();
        return (weight * normalized.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
