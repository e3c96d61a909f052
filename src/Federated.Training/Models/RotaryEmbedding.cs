using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// Rotary position embeddings in HF Llama's layout ("rotate half": the first and second halves of each
/// head dimension form the pairs), with inv_freq_i = theta^(-2i/d).
/// rotate_half(x) * sin is computed as roll(x, d/2) * sin with the first half of sin negated: one operation
/// where slicing, negating and concatenating took four (forward and backward), bit for bit the same values.
/// </summary>
public sealed class RotaryEmbedding(int headDim, double theta)
{
    /// <summary>(cos, signed sin), each [T, headDim], for positions 0..T-1; the signed sin is (-sin, sin) over the two halves.</summary>
    public (Tensor Cos, Tensor SignedSin) Angles(long length, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var invFreq = tensor(Enumerable.Range(0, headDim / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / headDim)).ToArray(), float64, device);
        var freqs = outer(arange(length, float64, device), invFreq);
        var cos = cat([freqs, freqs], -1).cos();
        var signedSin = cat([-freqs, freqs], -1).sin();
        return (cos.to(dtype).MoveToOuterDisposeScope(), signedSin.to(dtype).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// (cos, signed sin), each [B, 1, T, headDim], for the positions [B, T] of a packed batch: the rows of
    /// <see cref="Angles"/> at those positions, so a token gets the same angles as at that position unpacked.
    /// </summary>
    public (Tensor Cos, Tensor SignedSin) At(Tensor positions, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var (cos, signedSin) = Angles(positions.max().item<long>() + 1, device, dtype);
        Tensor Pick(Tensor table) => table.index_select(0, positions.reshape(-1)).view(positions.size(0), 1, positions.size(1), headDim);
        return (Pick(cos).MoveToOuterDisposeScope(), Pick(signedSin).MoveToOuterDisposeScope());
    }

    /// <summary>x * cos + rotate_half(x) * sin for x [B, heads, T, headDim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor signedSin)
    {
        using var scope = NewDisposeScope();
        return (x * cos).add(x.roll(x.size(-1) / 2, -1) * signedSin, HeldScalars.One).MoveToOuterDisposeScope(); // see HeldScalars
    }
}
