using Federated.Core.Compression;

namespace Federated.Core.Tests.Compression;

public class TernaryCompressorTests
{
    [Theory]
    [InlineData(0.1, 1.0)]
    [InlineData(0.3, 2.5)]
    public void Ternary_values_are_minus_a_zero_plus_a_on_the_requested_fraction(double fraction, double alphaC)
    {
        using var adapter = SmallAdapters.Create(seed: 8);
        using var compressed = new TernaryCompressor(fraction, alphaC).Compress(adapter);

        var ternary = compressed.Modules.SelectMany(m => new[] { (TernaryTensor)m.A, (TernaryTensor)m.B });
        foreach (var ((name, x), t) in SmallAdapters.Factors(adapter).Zip(ternary))
        {
            using var scope = NewDisposeScope();
            var a = t.Magnitude;
            var dense = t.Decompress();
            var kept = dense.ne(0);

            // a = alpha_c * std(x) with Bessel's correction, as torch.std.
            Assert.Equal(alphaC * x.to(float64).std().item<double>(), a, 5e-6 * a);
            Assert.True((dense.eq(a) | dense.eq(-a) | dense.eq(0)).all().item<bool>(), $"{name}: a value is not -a, 0 or +a");
            Assert.Equal((long)Math.Ceiling(fraction * x.numel()), kept.sum().item<long>());
            Assert.Equal(kept.sum().item<long>(), t.NonZeroCount);
            // Signs are kept, and the kept entries are the largest magnitudes.
            Assert.True(dense.masked_select(kept).sign().eq(x.masked_select(kept).sign()).all().item<bool>(), $"{name}: a sign flipped");
            Assert.True(x.abs().masked_select(kept).min().item<float>() >= x.abs().masked_select(kept.logical_not()).max().item<float>());
        }
    }

    [Fact]
    public void Ternary_of_a_zero_factor_is_all_zeros()
    {
        using var adapter = new Core.Adapters.LoraAdapter([new("layer.v_proj", zeros(4, 16), ones(8, 4), alpha: 4)]);
        using var compressed = new TernaryCompressor(0.5).Compress(adapter);
        using var decompressed = compressed.Decompress();

        Assert.Equal(0, ((TernaryTensor)compressed.Modules[0].A).NonZeroCount);
        Assert.True(decompressed.Modules[0].A.eq(0).all().item<bool>());
    }
}
