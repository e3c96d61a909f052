using Federated.Core.Compression;

namespace Federated.Core.Tests.Compression;

public class AdapterCompressorsTests
{
    [Theory]
    [InlineData("int8", CompressionScheme.Int8)]
    [InlineData("topk", CompressionScheme.TopK)]
    [InlineData("ternary", CompressionScheme.Ternary)]
    [InlineData(" INT8 ", CompressionScheme.Int8)]
    public void Each_scheme_name_makes_a_compressor_of_that_scheme(string name, CompressionScheme expected)
    {
        var compressor = AdapterCompressors.Create(name, 0.25);
        Assert.Equal(expected, compressor.Scheme);
        (compressor as IDisposable)?.Dispose();
    }

    [Fact]
    public void The_fraction_and_seed_reach_the_compressor()
    {
        Assert.Equal(0.25, ((TopKSparsifier)AdapterCompressors.Create("topk", 0.25)).Fraction);
        Assert.Equal(0.5, ((TernaryCompressor)AdapterCompressors.Create("ternary", 0.5)).Fraction);
        using var stochastic = (Int8Quantizer)AdapterCompressors.Create("int8", stochasticSeed: 7);
        Assert.True(stochastic.IsStochastic);
        using var nearest = (Int8Quantizer)AdapterCompressors.Create("int8");
        Assert.False(nearest.IsStochastic);
    }

    [Fact]
    public void Stochastic_int8_from_the_same_seed_compresses_identically()
    {
        using var adapter = SmallAdapters.Create(seed: 3);
        using var first = (Int8Quantizer)AdapterCompressors.Create("int8", stochasticSeed: 11);
        using var second = (Int8Quantizer)AdapterCompressors.Create("int8", stochasticSeed: 11);
        using var a = first.Compress(adapter);
        using var b = second.Compress(adapter);
        foreach (var (x, y) in a.Modules.Zip(b.Modules))
            Assert.True(((Int8Tensor)x.A).Quantized.equal(((Int8Tensor)y.A).Quantized).all().item<bool>());
    }

    [Theory]
    [InlineData("gzip", 0.1, "unknown compression scheme 'gzip' (expected int8, topk, ternary)")]
    [InlineData("topk", 0, "the kept fraction for topk must be in (0, 1], not 0")]
    [InlineData("ternary", 1.5, "the kept fraction for ternary must be in (0, 1], not 1.5")]
    [InlineData("topk", double.NaN, "the kept fraction for topk must be in (0, 1]")]
    public void Bad_settings_are_an_argument_error_naming_what_is_wrong(string scheme, double fraction, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => AdapterCompressors.Create(scheme, fraction));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void Int8_ignores_the_fraction()
    {
        using var quantizer = (Int8Quantizer)AdapterCompressors.Create("int8", fraction: 0);
        Assert.Equal(CompressionScheme.Int8, quantizer.Scheme);
    }
}
