using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Tests.Formats;

namespace Federated.Core.Tests.Compression;

public sealed class CompressedAdapterFileTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Schemes => ["int8", "int8-stochastic", "topk", "topk-feedback", "ternary"];

    internal static AdapterCompressor Compressor(string name) => name switch
    {
        "int8" => Int8Quantizer.RoundToNearest(),
        "int8-stochastic" => Int8Quantizer.Stochastic(seed: 42),
        "topk" => new TopKSparsifier(0.1),
        "topk-feedback" => new TopKErrorFeedback(0.1),
        "ternary" => new TernaryCompressor(0.1),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Decompressing_the_file_gives_the_in_memory_decompression_bit_for_bit(string scheme)
    {
        using var adapter = SmallAdapters.Create(seed: 9, useRsLora: true);
        using var compressed = Compress(scheme, adapter);
        using var expected = compressed.Decompress();
        var path = _dir.File(CompressedAdapterFile.FileName);

        CompressedAdapterFile.Write(path, compressed);
        using var read = CompressedAdapterFile.Read(path);
        using var actual = read.Decompress();

        Assert.Equal(compressed.Scheme, read.Scheme);
        Assert.Equal(compressed.Stats, read.Stats);
        AssertIdentical(expected, actual);
        // The float32 decompression keeps names, order, alphas, rsLoRA and the base model of the upload.
        Assert.Equal(adapter.Modules.Select(m => (m.Name, m.Alpha)), actual.Modules.Select(m => (m.Name, m.Alpha)));
        Assert.True(actual.UseRsLora);
        Assert.Equal("test/base-model", actual.BaseModel);
        Assert.Equal(ScalarType.Float32, actual.DType);
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void A_stream_round_trip_matches_too(string scheme)
    {
        using var adapter = SmallAdapters.Create(seed: 10);
        using var compressed = Compress(scheme, adapter);
        using var expected = compressed.Decompress();
        using var stream = new MemoryStream();

        CompressedAdapterFile.Write(stream, compressed);
        stream.Position = 0;
        using var read = CompressedAdapterFile.Read(stream);
        using var actual = read.Decompress();

        AssertIdentical(expected, actual);
    }

    [Fact]
    public void Compression_ratios_are_a_quarter_plus_scales_for_int8_and_far_lower_for_ternary()
    {
        using var adapter = SmallAdapters.Create(seed: 11);
        var floatBytes = adapter.ParameterCount * 4;
        var rows = adapter.Modules.Sum(m => m.Rank + m.OutFeatures);
        using var int8 = Int8Quantizer.RoundToNearest().Compress(adapter);
        using var topk = new TopKSparsifier(0.1).Compress(adapter);
        using var ternary = new TernaryCompressor(0.1).Compress(adapter);

        // int8: one byte per entry plus a float32 scale per row (B's rows hold only r entries each, hence > 0.25).
        Assert.Equal(new CompressionStats(adapter.ParameterCount + 4 * rows, floatBytes), int8.Stats);
        Assert.InRange(int8.Stats.Ratio, 0.25, 0.32);
        // top-k: an int32 index and a float32 value per kept entry, ~2 x 10%.
        Assert.InRange(topk.Stats.Ratio, 0.2, 0.22);
        // ternary: 1 mask bit per entry + 1 sign bit per kept entry, ~(1 + 0.1) / 32.
        Assert.InRange(ternary.Stats.Ratio, 0.034, 0.05); // plus 20 bytes of shape and scale per factor
        Assert.True(ternary.Stats.Ratio < int8.Stats.Ratio / 6);

        // The files add their JSON header: small against real adapters, large against this tiny one.
        foreach (var (name, c) in new[] { ("int8", int8), ("topk", topk), ("ternary", ternary) })
        {
            var path = _dir.File($"{name}.safetensors");
            CompressedAdapterFile.Write(path, c);
            Assert.True(new FileInfo(path).Length > c.Stats.CompressedBytes);
        }
    }

    static CompressedAdapter Compress(string scheme, LoraAdapter adapter)
    {
        var compressor = Compressor(scheme);
        try
        {
            return compressor.Compress(adapter);
        }
        finally
        {
            (compressor as IDisposable)?.Dispose();
        }
    }

    static void AssertIdentical(LoraAdapter expected, LoraAdapter actual)
    {
        Assert.Equal(expected.Modules.Count, actual.Modules.Count);
        foreach (var (e, a) in expected.Modules.Zip(actual.Modules))
        {
            Assert.Equal(e.Name, a.Name);
            TensorBytes.AssertIdentical(e.A, a.A);
            TensorBytes.AssertIdentical(e.B, a.B);
        }
    }
}
