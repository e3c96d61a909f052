using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>Which entries of a factor a sparsifying scheme keeps.</summary>
static class TopKSelection
{
    public static void CheckFraction(double fraction)
    {
        if (!(fraction > 0 && fraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the kept fraction must be in (0, 1]");
    }

    /// <summary>k = ceil(fraction * count), at least one entry.</summary>
    public static long KeptCount(double fraction, long count) =>
        // Through decimal, so that e.g. 0.3 * 10 is 3 and not ceil(3.0000000000000004) = 4.
        Math.Clamp((long)Math.Ceiling((decimal)fraction * count), 1, count);

    /// <summary>Flat int64 positions of the <paramref name="k"/> largest |x|, ascending.</summary>
    public static Tensor LargestMagnitudes(Tensor flat, long k)
    {
        var (_, positions) = flat.abs().topk(checked((int)k));
        return positions.sort().Values;
    }
}
