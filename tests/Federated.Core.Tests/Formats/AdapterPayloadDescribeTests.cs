using System.Buffers.Binary;
using System.Text;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.Core.Formats.Safetensors;

namespace Federated.Core.Tests.Formats;

/// <summary>Header-only inspection of payloads (what uploads are validated with): the same verdicts as a full read, without the data.</summary>
public sealed class AdapterPayloadDescribeTests
{
    static readonly IReadOnlyList<ModuleShape> Shapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"], kvDim: 16);

    static byte[] Payload(int rank = 4, string? baseModel = "tiny-llama")
    {
        using var adapter = RandomAdapters.Create(Shapes, rank, alpha: 8, seed: 5, baseModel: baseModel);
        return AdapterPayload.ToBytes(adapter);
    }

    [Fact]
    public void A_payload_is_described_as_a_full_read_sees_it()
    {
        var bytes = Payload();
        using var read = AdapterPayload.Read(bytes);

        var description = AdapterPayload.Describe(bytes, bytes.Length);

        Assert.Null(description.Compression);
        Assert.Equal("tiny-llama", description.BaseModel);
        Assert.Equal(read.TargetModules, description.TargetModules);
        Assert.Equal(read.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures, m.DType, m.Alpha)),
            description.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures, m.DType, m.Alpha)));
        Assert.Equal(16, description.Modules.Single(m => m.Name == "model.layers.1.self_attn.v_proj").OutFeatures);
        Assert.True(description.HeaderBytes < bytes.Length);
    }

    [Fact]
    public async Task Some_modules_read_by_their_byte_ranges_equal_those_of_a_full_read()
    {
        var bytes = Payload(rank: 8);
        using var read = AdapterPayload.Read(bytes);
        var description = AdapterPayload.Describe(bytes, bytes.Length);
        string[] wanted = [read.Modules[3].Name, read.Modules[1].Name];
        var ranges = new List<(long Offset, int Count)>();

        using var part = await AdapterPayload.ReadModulesAsync(description, wanted, (offset, destinations) =>
        {
            int count = destinations.Sum(d => d.Length);
            ranges.Add((offset, count));
            var source = bytes.AsSpan((int)offset, count);
            foreach (var d in destinations)
            {
                source[..d.Length].CopyTo(d.Span);
                source = source[d.Length..];
            }
            return Task.CompletedTask;
        });

        Assert.Equal(wanted, part.Modules.Select(m => m.Name));
        foreach (var m in part.Modules)
        {
            var full = read[m.Name];
            Assert.True(m.A.eq(full.A).all().item<bool>() && m.B.eq(full.B).all().item<bool>(), m.Name);
            Assert.Equal((full.Alpha, full.Rank, full.UseRsLora), (m.Alpha, m.Rank, m.UseRsLora));
        }
        // One range per module (its two factors are adjacent), covering exactly their bytes: nothing else of the payload is read.
        Assert.Equal(2, ranges.Count);
        Assert.Equal(wanted.Sum(n => read[n].A.NumberOfElements * 4 + read[n].B.NumberOfElements * 4), ranges.Sum(r => (long)r.Count));
    }

    [Fact]
    public async Task A_module_the_payload_lacks_is_refused()
    {
        var bytes = Payload();
        var description = AdapterPayload.Describe(bytes, bytes.Length);
        await Assert.ThrowsAsync<ArgumentException>(() => AdapterPayload.ReadModulesAsync(description, ["model.layers.9.self_attn.q_proj"],
            (_, _) => Task.CompletedTask));
    }

    [Fact]
    public void The_header_prefix_alone_is_enough_and_the_stream_overload_agrees()
    {
        var bytes = Payload();
        int prefix = AdapterPayload.PrefixLength(bytes, bytes.Length);

        var fromPrefix = AdapterPayload.Describe(bytes.AsMemory(0, prefix), bytes.Length);
        using var stream = new MemoryStream(bytes);
        var fromStream = AdapterPayload.Describe(stream);

        Assert.Equal(prefix, fromPrefix.HeaderBytes);
        Assert.Equal(prefix, stream.Position);
        Assert.Equal(fromPrefix.Modules, fromStream.Modules);
    }

    [Fact]
    public void Truncated_and_garbage_payloads_are_rejected()
    {
        var bytes = Payload();
        Assert.Throws<SafetensorsFormatException>(() => AdapterPayload.Describe(bytes.AsMemory(0, 5), 5));
        var garbage = "definitely not safetensors"u8.ToArray();
        Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(garbage, garbage.Length));

        // The data is cut short: the header's offsets no longer fit the payload's length.
        var truncated = Assert.Throws<SafetensorsFormatException>(() => AdapterPayload.Describe(bytes, bytes.Length - 4));
        Assert.Equal(SafetensorsError.Truncated, truncated.Error);
        // Bytes past the last tensor belong to nothing.
        var padded = Assert.Throws<SafetensorsFormatException>(() => AdapterPayload.Describe(bytes, bytes.Length + 4));
        Assert.Equal(SafetensorsError.OffsetsOverlapOrGap, padded.Error);
    }

    [Fact]
    public void A_header_length_beyond_the_payload_or_the_caller_limit_is_refused_before_reading_it()
    {
        var bytes = Payload();
        var beyond = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(beyond, (ulong)bytes.Length);
        Assert.Equal(SafetensorsError.HeaderBeyondFile,
            Assert.Throws<SafetensorsFormatException>(() => AdapterPayload.PrefixLength(beyond, beyond.Length)).Error);
        Assert.Equal(SafetensorsError.HeaderTooLarge,
            Assert.Throws<SafetensorsFormatException>(() => AdapterPayload.PrefixLength(bytes, bytes.Length, maxHeaderBytes: 16)).Error);
    }

    [Fact]
    public void Inconsistent_offsets_are_rejected()
    {
        var bytes = Payload();
        int prefix = AdapterPayload.PrefixLength(bytes, bytes.Length);
        string header = Encoding.UTF8.GetString(bytes, 8, prefix - 8);
        // The first tensor claims one element more than its shape: its offsets no longer tile the data.
        int at = header.IndexOf("\"data_offsets\":[0,", StringComparison.Ordinal);
        Assert.True(at >= 0);
        int comma = at + "\"data_offsets\":[0,".Length, close = header.IndexOf(']', comma);
        long end = long.Parse(header[comma..close]);
        string forged = header[..comma] + (end + 4) + header[close..];
        var changed = Rebuild(bytes, prefix, forged);

        var e = Assert.Throws<SafetensorsFormatException>(() => AdapterPayload.Describe(changed, changed.Length));
        Assert.Equal(SafetensorsError.ShapeSizeMismatch, e.Error);
    }

    [Fact]
    public void Structural_errors_a_full_read_refuses_are_refused_too()
    {
        var bytes = Payload();
        int prefix = AdapterPayload.PrefixLength(bytes, bytes.Length);
        string header = Encoding.UTF8.GetString(bytes, 8, prefix - 8);
        // A lora_A without its lora_B (renamed to a key of another module): same verdict as Read.
        string renamed = header.Replace("model.layers.0.self_attn.q_proj.lora_B.weight", "model.layers.0.self_attn.qq_proj.lora_B.weight");
        var changed = Rebuild(bytes, prefix, renamed);

        var described = Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(changed, changed.Length));
        var read = Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Read(changed));
        Assert.Equal(read.Message, described.Message);
        Assert.Contains("no lora_B", described.Message);
    }

    [Fact]
    public void A_compressed_payload_is_described_by_the_shapes_it_decompresses_to()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 4, alpha: 8, seed: 3, baseModel: "tiny-llama");
        using var quantizer = Int8Quantizer.RoundToNearest();
        using var compressed = quantizer.Compress(adapter);
        using var buffer = new MemoryStream();
        CompressedAdapterFile.Write(buffer, compressed);

        var description = AdapterPayload.Describe(buffer.ToArray(), buffer.Length);

        Assert.Equal(CompressionScheme.Int8, description.Compression);
        Assert.Equal("tiny-llama", description.BaseModel);
        Assert.Equal(adapter.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures)),
            description.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures)));
    }

    /// <summary>The payload with its header replaced by <paramref name="header"/> (space-padded to the old length, so offsets stay valid).</summary>
    static byte[] Rebuild(byte[] bytes, int prefix, string header)
    {
        var encoded = Encoding.UTF8.GetBytes(header.TrimEnd());
        Assert.True(encoded.Length <= prefix - 8);
        var copy = (byte[])bytes.Clone();
        copy.AsSpan(8, prefix - 8).Fill((byte)' ');
        encoded.CopyTo(copy, 8);
        return copy;
    }
}
