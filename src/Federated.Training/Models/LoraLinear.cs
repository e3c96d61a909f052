using Federated.Core.Adapters;
using Federated.Core.Federation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// A linear layer under HF parameter names (<c>weight</c>, <c>bias</c>) that can carry one LoRA branch:
/// y = x W^T + b + s B (A dropout(x)). The branch's factors live outside the module's registered
/// parameters, so the base checkpoint's names never change and a branch can be swapped for another rank;
/// they stay float32 (trainable, with float32 gradients and optimiser states) on a bf16 base.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // HF parameter names
    readonly Parameter weight;
    readonly Parameter? bias;
#pragma warning restore IDE1006

    /// <param name="dtype">The base weight's dtype (float32, or bfloat16 for a bf16 base); branches are always float32.</param>
    public LoraLinear(long inFeatures, long outFeatures, bool hasBias, ScalarType dtype = ScalarType.Float32) : base(nameof(LoraLinear))
    {
        weight = nn.Parameter(empty(outFeatures, inFeatures, dtype));
        if (hasBias) bias = nn.Parameter(zeros(outFeatures, dtype));
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public Parameter? Bias => bias;
    public long InFeatures => weight.size(1);
    public long OutFeatures => weight.size(0);

    /// <summary>The attached branch, or null.</summary>
    public LoraBranch? Lora { get; private set; }

    public override Tensor forward(Tensor x)
    {
        if (Lora is not { } lora) return nn.functional.linear(x, weight, bias);
        using var scope = NewDisposeScope();
        if (BranchInWeightSpace(lora, x))
            return nn.functional.linear(x, addmm(weight, lora.B, lora.A, beta: 1, alpha: (float)lora.Scale), bias).MoveToOuterDisposeScope();
        var y = nn.functional.linear(x, weight, bias);
        // PEFT's autocast_adapter_dtype: on a bf16 base the float32 branch sees float32 input, and its sum with the base
        // output is formed in float32 and rounded once. On a float32 base no cast is made: each is an operation (forward
        // and backward) per branch, and small models' steps are bound by the number of operations.
        bool mixed = x.dtype != lora.A.dtype;
        var h = mixed ? x.to(lora.A.dtype) : x;
        if (lora.Dropout > 0) h = DropoutGenerator.Dropout(h, lora.Dropout, training);
        var branch = nn.functional.linear(nn.functional.linear(h, lora.A), lora.B);
        // y + s (B A h) as one operation: add's alpha is the scale, a scalar held to the end of the call (see NativeWork).
        using var scale = lora.Scale.ToScalar();
        return (mixed ? y.to(branch.dtype).add_(branch, scale).to(y.dtype) : y.add_(branch, scale)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whether to run one linear with W + s B A (a single addmm) instead of the branch on the activations: the same sum,
    /// cheaper when the rank is a sizeable part of the layer's width, as with the tiny preset's rank-16 branches on width 64.
    /// Per token, the merged weight's gradient costs in x out multiply-adds, the branch 3 r (in + out) (its product forward,
    /// three backward) and three more operations each way. Dropout on the branch's input has no weight-space form, and
    /// a bf16 base keeps its float32 branch apart.
    /// </summary>
    internal bool BranchInWeightSpace(LoraBranch lora, Tensor x) =>
        (lora.Dropout == 0 || !training) && x.dtype == lora.A.dtype && weight.dtype == lora.A.dtype
        && InFeatures * OutFeatures < 3L * lora.Rank * (InFeatures + OutFeatures);

    /// <summary>Attaches a branch (replacing and disposing any previous one).</summary>
    public void Attach(LoraBranch branch)
    {
        if (branch.A.size(1) != InFeatures || branch.B.size(0) != OutFeatures)
            throw new AdapterShapeException($"a LoRA branch of {branch.B.size(0)}x{branch.A.size(1)} does not fit a {OutFeatures}x{InFeatures} layer");
        Lora?.Dispose();
        Lora = branch;
    }

    /// <summary>Removes and disposes the branch.</summary>
    public void Detach()
    {
        Lora?.Dispose();
        Lora = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Detach();
        base.Dispose(disposing);
    }
}

/// <summary>The trainable factors of one LoRA branch. Takes ownership of the tensors it is given.</summary>
public sealed class LoraBranch : IDisposable
{
    public LoraBranch(Tensor a, Tensor b, double alpha, bool useRsLora = false, double dropout = 0)
    {
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        A = AsParameter(a);
        B = AsParameter(b);
        Alpha = alpha;
        UseRsLora = useRsLora;
        Dropout = dropout;
        Scale = LoraScaling.Scale(alpha, (int)A.size(0), useRsLora);
    }

    /// <summary>A fresh branch as PEFT initialises it: A Kaiming-uniform (bound 1/sqrt(d_in)), B = 0.</summary>
    public static LoraBranch Fresh(long inFeatures, long outFeatures, int rank, double alpha, bool useRsLora, double dropout,
        Generator generator, Device device)
    {
        using var scope = NewDisposeScope();
        var a = SeededAdapter.FreshA(rank, inFeatures, generator).to(device);
        var b = zeros(outFeatures, rank, float32, device);
        return new LoraBranch(a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), alpha, useRsLora, dropout);
    }

    public Parameter A { get; }
    public Parameter B { get; }
    public double Alpha { get; }
    public bool UseRsLora { get; }
    public double Dropout { get; }
    public double Scale { get; }
    public int Rank => (int)A.size(0);

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }

    /// <summary>Optimisers take parameters; a plain tensor is wrapped (sharing its storage) and its handle released.</summary>
    static Parameter AsParameter(Tensor t)
    {
        if (t is Parameter p) return p;
        var parameter = nn.Parameter(t.detach(), requires_grad: true);
        parameter.DetachFromDisposeScope(); // the branch owns it, whatever scope it was created in
        t.Dispose();
        return parameter;
    }
}
