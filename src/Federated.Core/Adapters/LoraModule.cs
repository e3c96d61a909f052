using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Adapters;

/// <summary>
/// One LoRA branch on a linear layer W0 (d_out x d_in): dW = s B A with A: r x d_in, B: d_out x r,
/// s = alpha / r, or alpha / sqrt(r) under rsLoRA. Owns its two tensors.
/// </summary>
public sealed class LoraModule : IDisposable
{
    public LoraModule(string name, Tensor a, Tensor b, double alpha, bool useRsLora = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        // Each shape, dtype or device query is a native call (shape also allocates): each is asked once.
        long[] aShape = a.shape, bShape = b.shape;
        if (aShape.Length != 2 || bShape.Length != 2)
            throw new AdapterShapeException($"module '{name}': A and B must be matrices, got A {Shape(aShape)} and B {Shape(bShape)}");
        if (bShape[1] != aShape[0])
            throw new AdapterShapeException($"module '{name}': B {Shape(bShape)} and A {Shape(aShape)} disagree on the rank");
        if (aShape[0] == 0)
            throw new AdapterShapeException($"module '{name}': rank must be positive");
        var dtype = a.dtype;
        if (dtype != b.dtype)
            throw new AdapterShapeException($"module '{name}': A is {dtype} but B is {b.dtype}");
        if (!AdapterDTypes.IsSupported(dtype))
            throw new AdapterShapeException($"module '{name}': dtype {dtype} is not one of float32, float16, bfloat16");
        if (!double.IsFinite(alpha) || alpha == 0)
            throw new AdapterShapeException($"module '{name}': alpha must be finite and non-zero, got {alpha}");
        Name = name;
        A = a;
        B = b;
        Alpha = alpha;
        UseRsLora = useRsLora;
        // Cached: aggregation asks for these per block.
        Rank = (int)aShape[0];
        InFeatures = (int)aShape[1];
        OutFeatures = (int)bShape[0];
        DType = dtype;
        Scale = LoraScaling.Scale(alpha, Rank, useRsLora);
        OnHost = a.device_type == DeviceType.CPU && b.device_type == DeviceType.CPU;
        if (OnHost && DType == ScalarType.Float32 && a.is_contiguous() && b.is_contiguous())
            (_hostA, _hostB) = (Address(a), Address(b));
    }

    // libtorch storage is native memory the GC never moves: a tensor's address is fixed while it lives, and a module's
    // tensors are never resized in place.
    readonly nint _hostA, _hostB;

    /// <summary>Module path without the PEFT prefix, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public string Name { get; }
    public Tensor A { get; }
    public Tensor B { get; }
    public double Alpha { get; }
    public bool UseRsLora { get; }

    public int Rank { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public ScalarType DType { get; }
    public double Scale { get; }

    /// <summary>Both factors live in host memory (cached: each device query is a native call, and aggregation asks per block).</summary>
    public bool OnHost { get; }

    /// <summary>
    /// The factors' own float32 values, row-major (A: rank x d_in, B: d_out x rank), when both are contiguous float32 in host
    /// memory; false otherwise. Valid while the module is not disposed.
    /// </summary>
    public unsafe bool TryHostFloat32(out ReadOnlySpan<float> a, out ReadOnlySpan<float> b)
    {
        if (_hostA == 0)
        {
            a = b = default;
            return false;
        }
        a = new ReadOnlySpan<float>((void*)_hostA, Rank * InFeatures);
        b = new ReadOnlySpan<float>((void*)_hostB, OutFeatures * Rank);
        return true;
    }

    /// <summary>The last path segment, which PEFT's <c>target_modules</c> matches (e.g. <c>q_proj</c>).</summary>
    public string TargetName => Name[(Name.LastIndexOf('.') + 1)..];

    /// <summary>The dense update s B A (d_out x d_in) in <paramref name="dtype"/>. For tests, merging and small models only.</summary>
    public Tensor DenseDelta(ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        using var scale = Scale.ToScalar();
        return B.to(dtype).matmul(A.to(dtype)).mul_(scale).MoveToOuterDisposeScope();
    }

    public LoraModule With(Tensor a, Tensor b, double alpha, bool? useRsLora = null) =>
        new(Name, a, b, alpha, useRsLora ?? UseRsLora);

    public LoraModule Clone()
    {
        // In a scope, which holds detach()'s result: a temporary left to the finalizer can be freed while clone() reads it.
        using var scope = NewDisposeScope();
        return new(Name, A.detach().clone().MoveToOuterDisposeScope(), B.detach().clone().MoveToOuterDisposeScope(), Alpha, UseRsLora);
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }

    static unsafe nint Address(Tensor t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    static string Shape(long[] shape) => "[" + string.Join("x", shape) + "]";
}
