using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// ComPEFT-style ternary compression (arXiv 2311.13171), per factor tau: keep the k = ceil(fraction * numel)
/// largest |tau|, and send them as (alpha_c * sigma) * sign(tau) with sigma = std(tau), 0 elsewhere.
/// sigma is the unbiased standard deviation of the whole factor, before sparsification. alpha_c trades the
/// magnitude off against the kept fraction; ComPEFT tunes it on validation data, 1 is a neutral default.
/// </summary>
public sealed class TernaryCompressor : AdapterCompressor
{
    public TernaryCompressor(double fraction, double alphaC = 1)
    {
        TopKSelection.CheckFraction(fraction);
        if (!double.IsFinite(alphaC) || alphaC <= 0)
            throw new ArgumentOutOfRangeException(nameof(alphaC), alphaC, "alpha_c must be finite and positive");
        Fraction = fraction;
        AlphaC = alphaC;
    }

    public double Fraction { get; }
    public double AlphaC { get; }
    public override CompressionScheme Scheme => CompressionScheme.Ternary;

    protected override CompressedTensor CompressFactor(string key, Tensor factor)
    {
        var flat = factor.flatten();
        var count = flat.numel();
        var sigma = flat.std(unbiased: count > 1).item<float>();
        var positions = TopKSelection.LargestMagnitudes(flat, TopKSelection.KeptCount(Fraction, count));
        // A kept exact zero has no sign; leaving it out of the mask decompresses it to 0 all the same.
        var kept = flat.index_select(0, positions);
        var nonZero = kept.ne(HeldScalars.Zero);
        positions = positions.masked_select(nonZero);
        kept = kept.masked_select(nonZero);

        using var set = true.ToScalar();
        var mask = zeros(count, ScalarType.Bool).index_fill_(0, positions, set);
        var negative = kept.lt(HeldScalars.Zero).contiguous();
        return TernaryTensor.Create((int)factor.shape[0], (int)factor.shape[1],
            BitPacking.Pack(mask.bytes), BitPacking.Pack(negative.bytes), (float)(AlphaC * sigma));
    }
}
