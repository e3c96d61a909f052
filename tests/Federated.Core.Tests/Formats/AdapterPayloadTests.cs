using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;

namespace Federated.Core.Tests.Formats;

public sealed class AdapterPayloadTests
{
    static readonly IReadOnlyList<ModuleShape> Shapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]);

    [Fact]
    public void Payload_round_trip_is_bit_exact_with_ranks_alphas_order_and_base_model()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 4, alpha: 8, seed: 3, baseModel: "tiny-llama");
        using var read = AdapterPayload.Read(AdapterPayload.ToBytes(adapter));
        PeftAdapterDirectoryTests.AssertSameAdapter(adapter, read);
    }

    [Fact]
    public void Compressed_upload_reads_as_its_decompressed_adapter()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 4, alpha: 8, seed: 3);
        using var quantizer = Int8Quantizer.RoundToNearest();
        using var compressed = quantizer.Compress(adapter);
        using var buffer = new MemoryStream();
        CompressedAdapterFile.Write(buffer, compressed);
        using var expected = compressed.Decompress();

        using var read = AdapterPayload.Read(buffer.ToArray());

        PeftAdapterDirectoryTests.AssertSameAdapter(expected, read);
    }

    [Fact]
    public void Plain_safetensors_without_config_is_rejected_with_the_missing_entry_named()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 2, alpha: 4, seed: 1);
        using var buffer = new MemoryStream();
        Federated.Core.Formats.Safetensors.SafetensorsWriter.Write(buffer, [("x", adapter.Modules[0].A)]);

        var e = Assert.Throws<AdapterFormatException>(() => AdapterPayload.Read(buffer.ToArray(), "upload 7"));
        Assert.Contains("upload 7", e.Message);
        Assert.Contains(AdapterPayload.ConfigMetadataKey, e.Message);
    }

    [Fact]
    public void Truncated_payload_is_a_format_error_not_a_crash()
    {
        using var adapter = RandomAdapters.Create(Shapes, rank: 2, alpha: 4, seed: 1);
        var bytes = AdapterPayload.ToBytes(adapter);
        Assert.Throws<AdapterFormatException>(() => AdapterPayload.Read(bytes.AsMemory(0, bytes.Length - 10)));
    }
}
