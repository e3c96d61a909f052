using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// Per-row int8 quantization: scale = max|x| / 127 per row of A and of B, q = round(x / scale), and
/// decompression gives q * scale in float32. A zero row gets scale 0. Round-to-nearest keeps each entry within
/// scale / 2; stochastic rounding (floor(x / scale + u), u ~ U[0, 1)) is unbiased instead, so errors average out
/// across clients and rounds.
/// </summary>
public sealed class Int8Quantizer : AdapterCompressor, IDisposable
{
    const float Levels = 127;
    readonly Generator? _generator;

    Int8Quantizer(Generator? generator) => _generator = generator;

    /// <summary>Deterministic: round half to even.</summary>
    public static Int8Quantizer RoundToNearest() => new(null);

    /// <summary>Unbiased stochastic rounding from a generator seeded with <paramref name="seed"/>, advanced by every call.</summary>
    public static Int8Quantizer Stochastic(long seed) => new(new Generator((ulong)seed));

    public bool IsStochastic => _generator is not null;
    public override CompressionScheme Scheme => CompressionScheme.Int8;

    protected override CompressedTensor CompressFactor(string key, Tensor factor)
    {
        using var levels = Levels.ToScalar();
        using var lowest = (-Levels).ToScalar();
        var scales = factor.abs().amax(1).div(levels);
        // A zero row divides by 1 instead of 0; its entries are all 0 and so quantize to 0.
        var divisors = where(scales.gt(HeldScalars.Zero), scales, ones_like(scales));
        var scaled = factor / divisors.unsqueeze(1);
        var rounded = _generator is null
            ? scaled.round()
            : scaled.add(rand(scaled.shape, float32, generator: _generator), HeldScalars.One).floor();
        // Float rounding can put |x| / scale a hair above 127.
        var q = rounded.clamp(lowest, levels).to(int8);
        return new Int8Tensor(q.contiguous(), scales.contiguous());
    }

    public void Dispose() => _generator?.Dispose();
}
