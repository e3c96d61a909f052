using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats.Safetensors;
using Federated.Core.Tests.Formats;

namespace Federated.Core.Tests.Compression;

public sealed class MalformedCompressedAdapterTests : IDisposable
{
    const string Q0 = "base_model.model.model.layers.0.self_attn.q_proj";
    const string A0 = Q0 + ".lora_A.weight";
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Index_out_of_range_is_rejected_naming_the_indices_tensor()
    {
        var path = Tamper("topk", tensors => Replace(tensors, A0 + ".indices", t =>
        {
            var bad = t.clone();
            bad[-1] = tensor(8 * 64); // one past the end of the 8 x 64 factor
            return bad;
        }));
        AssertRejected(path, A0 + ".indices", "outside [0, 512)");
    }

    [Fact]
    public void Repeated_index_is_rejected()
    {
        var path = Tamper("topk", tensors => Replace(tensors, A0 + ".indices", t =>
        {
            var bad = t.clone();
            bad[1] = bad[0];
            return bad;
        }));
        AssertRejected(path, A0 + ".indices", "not greater than entry 0");
    }

    [Fact]
    public void Values_and_indices_of_different_lengths_are_rejected()
    {
        var path = Tamper("topk", tensors => Replace(tensors, A0 + ".values", t => t[..^1].clone()));
        AssertRejected(path, A0 + ".values", "entries");
    }

    [Fact]
    public void Scale_count_not_matching_the_rows_is_rejected()
    {
        var path = Tamper("int8", tensors => Replace(tensors, A0 + ".scale", t => t[..^1].clone()));
        AssertRejected(path, A0 + ".scale", "has 7 entries, but");
    }

    [Fact]
    public void Missing_scale_is_rejected()
    {
        var path = Tamper("int8", tensors => tensors.RemoveAll(t => t.Name == A0 + ".scale"));
        AssertRejected(path, A0 + ".scale", "is missing");
    }

    [Fact]
    public void Wrong_payload_dtype_is_rejected()
    {
        var path = Tamper("int8", tensors => Replace(tensors, A0 + ".q", t => t.to(int16)));
        AssertRejected(path, A0 + ".q", "is I16, expected I8");
    }

    [Fact]
    public void Negative_scale_is_rejected()
    {
        var path = Tamper("ternary", tensors => Replace(tensors, A0 + ".scale", t => -t));
        AssertRejected(path, A0 + ".scale", "finite non-negative");
    }

    [Fact]
    public void Ternary_mask_of_the_wrong_size_is_rejected()
    {
        var path = Tamper("ternary", tensors => Replace(tensors, A0 + ".mask", t => cat([t, zeros(1, ScalarType.Byte)])));
        AssertRejected(path, A0 + ".mask", "has 65 bytes, expected 64");
    }

    [Fact]
    public void Sign_bits_that_do_not_match_the_mask_are_rejected()
    {
        // The sign bits must match the number of kept positions in the mask.
        var path = Tamper("ternary", tensors => Replace(tensors, A0 + ".signs", t => cat([t, zeros(1, ScalarType.Byte)])));
        AssertRejected(path, A0 + ".signs", "bytes, expected");
    }

    [Fact]
    public void Sign_bits_set_in_the_padding_are_rejected()
    {
        // 52 kept entries (10% of 512) fill 6.5 sign bytes; the last byte's top bit is padding.
        var path = Tamper("ternary", tensors => Replace(tensors, A0 + ".signs", t =>
        {
            var bad = t.clone();
            bad[-1] = bad[-1].bitwise_or(tensor((byte)0x80));
            return bad;
        }));
        AssertRejected(path, A0 + ".signs", "bits set past the 52");
    }

    [Fact]
    public void Unknown_scheme_is_rejected()
    {
        var path = Tamper("int8", metadata: m => m[CompressedAdapterFile.SchemeMetadataKey] = "int4");
        AssertRejected(path, CompressedAdapterFile.SchemeMetadataKey, "'int4', not a known compression scheme");
    }

    [Fact]
    public void A_plain_peft_weights_file_is_not_a_compressed_adapter()
    {
        var path = Tamper("int8", metadata: m => m.Remove(CompressedAdapterFile.SchemeMetadataKey));
        AssertRejected(path, CompressedAdapterFile.SchemeMetadataKey, "not a compressed adapter");
    }

    [Fact]
    public void A_payload_the_scheme_does_not_define_is_rejected()
    {
        var path = Tamper("int8", tensors => tensors.Add((A0 + ".zero_point", zeros(8))));
        AssertRejected(path, A0 + ".zero_point", "not part of the int8 encoding");
    }

    [Fact]
    public void A_tensor_of_an_unlisted_module_is_rejected()
    {
        const string Stray = "base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight.q";
        var path = Tamper("int8", tensors => tensors.Add((Stray, zeros(8, 64, ScalarType.Int8))));
        AssertRejected(path, Stray, "not a payload of any module");
    }

    [Fact]
    public void Factors_that_disagree_on_the_rank_are_rejected_naming_the_module()
    {
        var path = Tamper("int8", tensors =>
        {
            Replace(tensors, A0 + ".q", t => t[..4].clone());
            Replace(tensors, A0 + ".scale", t => t[..4].clone());
        });
        // The header declares rank 8: the shorter A is refused against that declaration, before any data is read.
        AssertRejected(path, A0 + ".q", "is 4 x 64, but the factor is declared 8 x 64");
    }

    /// <summary>Writes a valid file of <paramref name="scheme"/>, then rewrites it with its tensors or metadata altered.</summary>
    string Tamper(string scheme, Action<List<(string Name, Tensor Tensor)>>? tensors = null,
        Action<Dictionary<string, string>>? metadata = null)
    {
        using var adapter = SmallAdapters.Create(seed: 12);
        var compressor = CompressedAdapterFileTests.Compressor(scheme);
        using (var compressed = compressor.Compress(adapter))
            CompressedAdapterFile.Write(_dir.File("valid.safetensors"), compressed);
        (compressor as IDisposable)?.Dispose();

        using var file = SafetensorsReader.Read(_dir.File("valid.safetensors"));
        var list = file.Tensors.ToList();
        var meta = file.Metadata.ToDictionary();
        tensors?.Invoke(list);
        metadata?.Invoke(meta);
        var path = _dir.File("tampered.safetensors");
        SafetensorsWriter.Write(path, list, meta);
        return path;
    }

    static void Replace(List<(string Name, Tensor Tensor)> tensors, string name, Func<Tensor, Tensor> change)
    {
        var i = tensors.FindIndex(t => t.Name == name);
        Assert.True(i >= 0, $"the valid file has no tensor '{name}'");
        tensors[i] = (name, change(tensors[i].Tensor));
    }

    static void AssertRejected(string path, string named, string detail)
    {
        var e = Assert.ThrowsAny<AdapterFormatException>(() => CompressedAdapterFile.Read(path).Dispose());
        Assert.Contains($"'{named}'", e.Message);
        Assert.Contains(detail, e.Message);
    }
}
