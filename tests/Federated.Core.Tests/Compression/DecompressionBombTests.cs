using System.Diagnostics;
using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Federation;
using Federated.Core.Formats;
using Federated.Core.Formats.Safetensors;

namespace Federated.Core.Tests.Compression;

/// <summary>
/// A compressed payload declares the shapes it decompresses to in its header: admission sees them before anything is
/// expanded, and decompression refuses to produce anything else. The bomb: a ~1 KB top-k file whose factors would expand
/// to gigabytes of float32.
/// </summary>
public sealed class DecompressionBombTests
{
    const string Module = "model.layers.0.self_attn.q_proj";

    /// <summary>
    /// A top-k file with one kept entry per factor, declaring (and claiming in its shape tensors) A <paramref name="rank"/> x
    /// <paramref name="inFeatures"/> and B <paramref name="outFeatures"/> x <paramref name="rank"/>; <paramref name="dataShape"/>
    /// overrides what the shape tensors claim.
    /// </summary>
    internal static byte[] TopKFile(int rank, int inFeatures, int outFeatures, (long Rows, long Columns)? dataShape = null, string baseModel = "tiny-llama")
    {
        var metadata = new Dictionary<string, string>
        {
            [CompressedAdapterFile.SchemeMetadataKey] = "topk",
            [CompressedAdapterFile.ModulesMetadataKey] = JsonSerializer.Serialize(new[] { new { name = Module, alpha = 16.0, rank, @in = inFeatures, @out = outFeatures } }),
            [CompressedAdapterFile.RsLoraMetadataKey] = "false",
            [CompressedAdapterFile.BaseModelMetadataKey] = baseModel,
        };
        var a = dataShape ?? (rank, inFeatures);
        var b = dataShape is { } d ? (d.Columns, d.Rows) : (outFeatures, rank);
        var tensors = new List<(string, Tensor)>();
        foreach (var (key, (rows, columns)) in new[] { (PeftKeys(true), a), (PeftKeys(false), b) })
        {
            tensors.Add(($"{key}.shape", tensor(new[] { rows, columns })));
            tensors.Add(($"{key}.indices", tensor(new[] { 0 })));
            tensors.Add(($"{key}.values", tensor(new[] { 1f })));
        }
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, tensors, metadata);
        foreach (var (_, t) in tensors) t.Dispose();
        return buffer.ToArray();
    }

    static string PeftKeys(bool isA) => isA ? Federated.Core.Formats.Peft.PeftKeys.A(Module) : Federated.Core.Formats.Peft.PeftKeys.B(Module);

    static AdmissionRules Rules(IReadOnlyList<ModuleShape>? manifest, long? maxDenseBytes = null) =>
        new("tiny-llama", ["q_proj"], manifest, AssignedRank: 8, MaxDenseBytes: maxDenseBytes);

    [Theory]
    [InlineData("int8")]
    [InlineData("topk")]
    [InlineData("ternary")]
    public void A_compressed_payload_is_described_with_the_shapes_it_decompresses_to(string scheme)
    {
        using var adapter = SmallAdapters.Create(seed: 11);
        var compressor = AdapterCompressors.Create(scheme, 0.25);
        using var disposable = compressor as IDisposable;
        using var compressed = compressor.Compress(adapter);
        using var buffer = new MemoryStream();
        CompressedAdapterFile.Write(buffer, compressed);
        var bytes = buffer.ToArray();

        var description = AdapterPayload.Describe(bytes, bytes.Length);
        using var read = AdapterPayload.Read(bytes);

        Assert.NotNull(description.Compression);
        Assert.Equal(read.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures, m.Alpha)),
            description.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures, m.Alpha)));
        Assert.Equal(read.Modules.Sum(m => (m.A.numel() + m.B.numel()) * 4), description.DenseBytes);
        Assert.Null(UpdateAdmission.Check(description, declaredRank: 8,
            new AdmissionRules("test/base-model", ["q_proj", "v_proj"], SmallAdapters.Shapes, AssignedRank: 8)));
    }

    [Fact]
    public void A_one_kilobyte_topk_bomb_is_refused_by_admission_from_its_header_with_the_memory_of_a_header()
    {
        // A: 8 x 200,000,000 and B: 200,000,000 x 8 float32 would be 12.8 GB dense.
        var bomb = TopKFile(rank: 8, inFeatures: 200_000_000, outFeatures: 200_000_000);
        Assert.True(bomb.Length < 1200, $"the bomb is {bomb.Length} bytes");
        var manifest = ModuleShape.LlamaFamily(32, 1, ["q_proj"]);

        var growth = PeakMemory.GrowthDuring(() =>
        {
            var description = AdapterPayload.Describe(bomb, bomb.Length);
            var shape = UpdateAdmission.Check(description, 8, Rules(manifest));
            Assert.Equal(AdmissionError.Shape, shape!.Error);
            Assert.Equal($"module '{Module}' is 200000000x200000000; the base model's layer is 32x32", shape.Message);
            // Without a manifest, the dense size alone refuses it.
            var size = UpdateAdmission.Check(description, 8, Rules(null, maxDenseBytes: 1L << 30));
            Assert.Equal(AdmissionError.TooLarge, size!.Error);
            Assert.Contains("12,800,000,000 bytes once read", size.Message);
        });
        Assert.True(growth < 64L << 20, $"describing the bomb grew the peak resident memory by {growth:N0} bytes");
    }

    [Fact]
    public void Reading_the_bomb_is_refused_before_decompression_and_allocates_nothing_dense()
    {
        var bomb = TopKFile(rank: 8, inFeatures: 200_000_000, outFeatures: 200_000_000);
        AdapterFormatException? refused = null;
        var watch = Stopwatch.StartNew();
        var growth = PeakMemory.GrowthDuring(() => refused = Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Read(bomb)));
        Assert.Contains("over the 4,294,967,296-byte limit", refused!.Message);
        Assert.True(growth < 64L << 20, $"reading the bomb grew the peak resident memory by {growth:N0} bytes");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Data_that_claims_other_shapes_than_the_header_declares_is_refused_before_decompression()
    {
        // Declared 8 x 32 (A) and 32 x 8 (B), which admission would accept; the shape tensors claim 8 x 60,000,000.
        var liar = TopKFile(rank: 8, inFeatures: 32, outFeatures: 32, dataShape: (8, 60_000_000));
        Assert.Null(UpdateAdmission.Check(AdapterPayload.Describe(liar, liar.Length), 8, Rules(ModuleShape.LlamaFamily(32, 1, ["q_proj"]))));

        var e = Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Read(liar).Dispose());
        Assert.Contains($"module '{Module}' is declared as rank 8, 32x32, but its data describes A 8x60000000", e.Message);
    }

    [Fact]
    public void A_compressed_file_without_declared_shapes_is_refused()
    {
        var bytes = TopKFile(rank: 8, inFeatures: 32, outFeatures: 32);
        var text = System.Text.Encoding.Latin1.GetString(bytes);
        // Same length, so offsets stay valid: "rank" becomes "rang".
        var forged = System.Text.Encoding.Latin1.GetBytes(text.Replace("\\u0022rank\\u0022", "\\u0022rang\\u0022").Replace("\\\"rank\\\"", "\\\"rang\\\""));
        Assert.NotEqual(bytes, forged);
        var e = Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(forged, forged.Length));
        Assert.Contains("positive integers", e.Message);
    }
}

/// <summary>Peak resident memory of this process, from Linux's high-water mark, which /proc/self/clear_refs resets.</summary>
static class PeakMemory
{
    public static long GrowthDuring(Action action)
    {
        GC.Collect();
        long before = Read("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
        action();
        return Read("VmHWM") - before;
    }

    static long Read(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
