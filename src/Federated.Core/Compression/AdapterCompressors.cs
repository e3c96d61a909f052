namespace Federated.Core.Compression;

/// <summary>
/// Makes a compressor from settings (a scheme name, a kept fraction, an optional seed), the one place where
/// <c>fed adapters compress</c> and the agent's uploads turn names into compressors.
/// </summary>
public static class AdapterCompressors
{
    /// <summary>The scheme names, as stored in compressed files: int8, topk, ternary.</summary>
    public static IReadOnlyList<string> SchemeNames { get; } = Enum.GetValues<CompressionScheme>().Select(CompressionSchemes.Name).ToArray();

    /// <param name="scheme">int8, topk or ternary (any case).</param>
    /// <param name="fraction">topk, ternary: the fraction of each factor's entries kept, in (0, 1]; int8 ignores it.</param>
    /// <param name="stochasticSeed">int8: unbiased stochastic rounding from this seed; round to nearest without one. Others ignore it.</param>
    /// <returns>A new compressor; dispose it if it is <see cref="IDisposable"/> (stochastic int8 holds a generator).</returns>
    /// <exception cref="ArgumentException">An unknown scheme, or a fraction outside (0, 1] for topk or ternary.</exception>
    public static AdapterCompressor Create(string scheme, double fraction = 0.1, long? stochasticSeed = null)
    {
        if (!CompressionSchemes.TryParse(scheme.Trim().ToLowerInvariant(), out var parsed))
            throw new ArgumentException($"unknown compression scheme '{scheme}' (expected {string.Join(", ", SchemeNames)})");
        if (parsed is not CompressionScheme.Int8 && !IsFraction(fraction))
            throw new ArgumentException($"the kept fraction for {CompressionSchemes.Name(parsed)} must be in (0, 1], not {fraction}");
        return parsed switch
        {
            CompressionScheme.Int8 => stochasticSeed is { } seed ? Int8Quantizer.Stochastic(seed) : Int8Quantizer.RoundToNearest(),
            CompressionScheme.TopK => new TopKSparsifier(fraction),
            _ => new TernaryCompressor(fraction),
        };
    }

    /// <summary>Whether <paramref name="fraction"/> is a valid kept fraction: in (0, 1], NaN excluded.</summary>
    public static bool IsFraction(double fraction) => fraction > 0 && fraction <= 1;
}
