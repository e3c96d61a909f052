using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// Rotary position embeddings in HF Llama's layout ("rotate half": the first and second halves of each
/// head dimension form the pairs), with inv_freq_i = theta^(-2i/d).
/// </summary>
public sealed class RotaryEmbedding(int headDim, double theta)
{
    /// <summary>(cos, sin), each [T, headDim], for positions 0..T-1.</summary>
    public (Tensor Cos, Tensor Sin) Angles(long length, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var invFreq = tensor(Enumerable.Range(0, headDim / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / headDim)).ToArray(), float64, device);
        var freqs = outer(arange(length, float64, device), invFreq);
        var emb = cat([freqs, freqs], -1);
        return (emb.cos().to(dtype).MoveToOuterDisposeScope(), emb.sin().to(dtype).MoveToOuterDisposeScope());
    }

    /// <summary>x * cos + rotate_half(x) * sin for x [B, heads, T, headDim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = x.size(-1) / 2;
        var rotated = cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return (x * cos + rotated * sin).MoveToOuterDisposeScope();
    }
}
