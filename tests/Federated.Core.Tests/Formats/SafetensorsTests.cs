using System.Buffers.Binary;
using System.Text;
using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;

namespace Federated.Core.Tests.Formats;

public sealed class SafetensorsTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Int8)] // compressed adapters' payloads
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int64)]
    public void Round_trip_is_bit_exact_for_scalar_1d_and_2d_tensors(ScalarType dtype)
    {
        using var scalar = TensorBytes.Random([], dtype, seed: 1);
        using var vector = TensorBytes.Random([7], dtype, seed: 2);
        using var matrix = TensorBytes.Random([5, 3], dtype, seed: 3);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcödé \"quoted\"\n" };
        var path = _dir.File("t.safetensors");

        SafetensorsWriter.Write(path, [("scalar", scalar), ("vector", vector), ("matrix", matrix)], metadata);
        using var file = SafetensorsReader.Read(path);

        TensorBytes.AssertIdentical(scalar, file["scalar"]);
        TensorBytes.AssertIdentical(vector, file["vector"]);
        TensorBytes.AssertIdentical(matrix, file["matrix"]);
        Assert.Equal(metadata.OrderBy(kv => kv.Key), file.Metadata.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void Round_trip_keeps_zero_element_tensors()
    {
        using var empty0 = zeros(0, 4);
        using var one = ones(2);
        var path = _dir.File("t.safetensors");

        SafetensorsWriter.Write(path, [("empty", empty0), ("one", one)]);
        using var file = SafetensorsReader.Read(path);

        Assert.Equal([0L, 4L], file["empty"].shape);
        TensorBytes.AssertIdentical(one, file["one"]);
    }

    [Fact]
    public void Round_trip_through_a_non_seekable_stream_is_bit_exact()
    {
        using var a = TensorBytes.Random([3, 2], ScalarType.BFloat16, seed: 4);
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, [("a", a)]);

        using var file = SafetensorsReader.Read(new ForwardOnlyStream(buffer.ToArray()));

        TensorBytes.AssertIdentical(a, file["a"]);
    }

    [Fact]
    public void Tensors_are_ordered_by_dtype_alignment_then_name_like_the_official_writer()
    {
        using var f16 = ones(1, dtype: float16);
        using var bf16 = ones(1, dtype: bfloat16);
        using var f32 = ones(1, dtype: float32);
        var path = _dir.File("t.safetensors");

        SafetensorsWriter.Write(path, [("z16", f16), ("a16", f16), ("bf", bf16), ("y32", f32), ("x32", f32)]);
        using var file = SafetensorsReader.Read(path);

        // The official writer sorts by its Dtype enum descending, which puts BF16 before F16.
        Assert.Equal(["x32", "y32", "bf", "a16", "z16"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Writer_produces_the_exact_bytes_of_the_official_writer()
    {
        using var b = tensor(new[] { 1.0f, -2.0f });
        using var a = tensor(new[] { 1.0f, 0.5f }).reshape(1, 2).to(bfloat16);
        using var c = tensor(1.0f).to(float16);
        using var d = tensor(new[] { -1.0f, 2.0f }).to(float16);

        // __metadata__ first; F32 before BF16 before F16; names sorted within a dtype; packed from offset 0.
        const string json = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"a\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
            + "\"c\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[12,14]},"
            + "\"d\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[14,18]}}";
        Assert.Equal(251, json.Length);
        byte[] expected =
        [
            0, 1, 0, 0, 0, 0, 0, 0, // 256, little-endian: 251 bytes of JSON + 5 spaces, so 8 + 256 is a multiple of 8
            .. Encoding.ASCII.GetBytes(json + "     "),
            0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, // b: 1.0f, -2.0f
            0x80, 0x3F, 0x00, 0x3F, // a: bf16 1.0, 0.5
            0x00, 0x3C, // c: f16 1.0
            0x00, 0xBC, 0x00, 0x40, // d: f16 -1.0, 2.0
        ];

        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, [("d", d), ("c", c), ("a", a), ("b", b)], new Dictionary<string, string> { ["format"] = "pt" });

        Assert.Equal(expected, stream.ToArray());
    }

    [Fact]
    public void Writer_matches_the_official_test_vectors()
    {
        // Byte vectors from the official crate's own tests (test_serialization, test_empty).
        using var attn = arange(6, dtype: float32).reshape(1, 2, 3);
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, [("attn.0", attn)]);
        byte[] serialization =
        [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
            58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
            101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
            0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ];
        Assert.Equal(serialization, stream.ToArray());

        using var empty = new MemoryStream();
        SafetensorsWriter.Write(empty, []);
        Assert.Equal([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32], empty.ToArray());
    }

    [Fact]
    public void Reads_a_hand_built_file_with_metadata_padding_and_any_header_order()
    {
        // Entries listed out of offset order, metadata last, header padded: all legal.
        var bytes = File("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]},"
            + "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
            + "\"__metadata__\":{\"format\":\"pt\",\"step\":\"7\"}}",
            [0x00, 0x3C, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]);

        using var file = SafetensorsReader.Read(new MemoryStream(bytes));

        Assert.Equal(["h", "w"], file.Tensors.Select(t => t.Name)); // data order
        Assert.Equal(ScalarType.Float16, file["h"].dtype);
        Assert.Equal(1.0f, file["h"].to(float32).item<float>());
        Assert.Equal([1.0f, -2.0f], file["w"].data<float>().ToArray());
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("7", file.Metadata["step"]);
    }

    [Fact]
    public void A_file_shorter_than_the_length_prefix_is_truncated()
    {
        var e = ReadFails([1, 0, 0, 0, 0], SafetensorsError.Truncated);
        Assert.Contains("5 bytes", e.Message);
    }

    [Fact]
    public void Data_shorter_than_the_offsets_is_truncated()
    {
        var e = ReadFails(File(Tensor("a", "F32", "[4]", 0, 16), new byte[10]), SafetensorsError.Truncated);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("10", e.Message);
    }

    [Fact]
    public void A_header_length_beyond_the_file_is_rejected()
    {
        var bytes = new byte[8 + 20];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        var e = ReadFails(bytes, SafetensorsError.HeaderBeyondFile);
        Assert.Contains("1000", e.Message);
    }

    [Theory]
    [InlineData(1UL << 60)]
    [InlineData(200_000_000UL)]
    [InlineData(ulong.MaxValue)]
    public void A_huge_header_length_is_rejected_without_allocating_it(ulong claimed)
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimed);
        var path = _dir.File("huge.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Read(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(SafetensorsError.HeaderTooLarge, e.Error);
        Assert.Contains(claimed.ToString(), e.Message);
        Assert.Contains(path, e.Message);
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes");
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",")]
    [InlineData("[1, 2]")]
    [InlineData("  {}")]
    [InlineData("{} trailing")]
    public void A_header_that_is_not_a_json_object_is_invalid(string json) =>
        ReadFails(File(json, []), SafetensorsError.InvalidHeader);

    [Fact]
    public void A_header_that_is_not_utf8_is_invalid()
    {
        var header = "{\"a\":{}}"u8.ToArray();
        header[2] = 0xFF; // the key's only byte is not UTF-8
        var bytes = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        ReadFails(bytes, SafetensorsError.InvalidHeader);
    }

    [Fact]
    public void An_entry_without_data_offsets_is_invalid()
    {
        var e = ReadFails(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]), SafetensorsError.InvalidHeader);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void A_dtype_outside_the_spec_is_unknown()
    {
        var e = ReadFails(File(Tensor("a", "F17", "[1]", 0, 4), new byte[4]), SafetensorsError.UnknownDType);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("F17", e.Message);
    }

    [Fact]
    public void A_spec_dtype_without_a_torch_equivalent_is_unsupported() =>
        ReadFails(File(Tensor("a", "F8_E4M3", "[4]", 0, 4), new byte[4]), SafetensorsError.UnsupportedDType);

    [Fact]
    public void Offsets_that_disagree_with_the_shape_are_a_size_mismatch()
    {
        var e = ReadFails(File(Tensor("a", "F32", "[2,2]", 0, 12), new byte[12]), SafetensorsError.ShapeSizeMismatch);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("16", e.Message);
        Assert.Contains("12", e.Message);
    }

    [Fact]
    public void A_shape_whose_byte_count_overflows_is_a_size_mismatch() =>
        ReadFails(File(Tensor("a", "F32", "[4611686018427387904,4]", 0, 4), new byte[4]), SafetensorsError.ShapeSizeMismatch);

    [Fact]
    public void Offsets_that_end_before_they_begin_are_invalid() =>
        ReadFails(File(Tensor("a", "F32", "[0]", 8, 0), new byte[8]), SafetensorsError.InvalidOffsets);

    [Fact]
    public void Offsets_past_the_end_of_the_buffer_are_out_of_bounds()
    {
        var e = ReadFails(File(Tensor("a", "F32", "[2]", 100, 108), new byte[8]), SafetensorsError.OffsetsOutOfBounds);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("[100, 108]", e.Message);
    }

    [Fact]
    public void Offsets_beyond_any_file_size_are_out_of_bounds() =>
        ReadFails(File(Tensor("a", "F32", "[0]", ulong.MaxValue, ulong.MaxValue), []), SafetensorsError.OffsetsOutOfBounds);

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var json = $"{{{Entry("a", "F32", "[2]", 0, 8)},{Entry("b", "F32", "[2]", 4, 12)}}}";
        var e = ReadFails(File(json, new byte[12]), SafetensorsError.OffsetsOverlapOrGap);
        Assert.Contains("'b'", e.Message);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void A_hole_between_tensors_is_rejected()
    {
        var json = $"{{{Entry("a", "F32", "[2]", 0, 8)},{Entry("b", "F32", "[2]", 12, 20)}}}";
        var e = ReadFails(File(json, new byte[20]), SafetensorsError.OffsetsOverlapOrGap);
        Assert.Contains("4-byte hole", e.Message);
    }

    [Fact]
    public void A_hole_before_the_first_tensor_is_rejected() =>
        ReadFails(File(Tensor("a", "F32", "[1]", 4, 8), new byte[8]), SafetensorsError.OffsetsOverlapOrGap);

    [Fact]
    public void Bytes_after_the_last_tensor_are_rejected()
    {
        var e = ReadFails(File(Tensor("a", "F32", "[2]", 0, 8), new byte[12]), SafetensorsError.OffsetsOverlapOrGap);
        Assert.Contains("4 bytes", e.Message);
    }

    [Fact]
    public void A_duplicate_tensor_name_is_rejected()
    {
        var json = $"{{{Entry("a", "F32", "[1]", 0, 4)},{Entry("a", "F32", "[1]", 4, 8)}}}";
        var e = ReadFails(File(json, new byte[8]), SafetensorsError.DuplicateKey);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void Metadata_with_a_non_string_value_is_invalid() =>
        ReadFails(File("{\"__metadata__\":{\"step\":7}}", []), SafetensorsError.InvalidMetadata);

    [Fact]
    public void Format_errors_are_adapter_format_errors_naming_the_file()
    {
        var path = _dir.File("bad.safetensors");
        System.IO.File.WriteAllBytes(path, [1, 2, 3]);

        var e = Assert.ThrowsAny<AdapterFormatException>(() => SafetensorsReader.Read(path));

        Assert.IsType<SafetensorsFormatException>(e);
        Assert.StartsWith(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Writing_replaces_the_file_atomically_and_leaves_no_temporary_files()
    {
        var path = _dir.File("t.safetensors");
        using var first = ones(2);
        using var second = zeros(3);
        SafetensorsWriter.Write(path, [("a", first)]);
        var firstBytes = System.IO.File.ReadAllBytes(path);

        // A tensor whose data cannot be read fails the write midway; the old file must survive intact.
        using var unreadable = empty([4], device: META);
        Assert.ThrowsAny<Exception>(() => SafetensorsWriter.Write(path, [("a", second), ("b", unreadable)]));
        Assert.Equal(firstBytes, System.IO.File.ReadAllBytes(path));

        SafetensorsWriter.Write(path, [("a", second)]);
        using (var file = SafetensorsReader.Read(path))
            TensorBytes.AssertIdentical(second, file["a"]);
        Assert.Equal(["t.safetensors"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Writer_rejects_duplicate_and_reserved_names()
    {
        using var t = ones(1);
        using var stream = new MemoryStream();
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(stream, [("a", t), ("a", t)]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(stream, [("__metadata__", t)]));
    }

    static string Entry(string name, string dtype, string shape, ulong begin, ulong end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    static string Tensor(string name, string dtype, string shape, ulong begin, ulong end) =>
        "{" + Entry(name, dtype, shape, begin, end) + "}";

    /// <summary>A file from header JSON (space-padded to 8 bytes, as writers do) and raw data.</summary>
    static byte[] File(string json, byte[] data)
    {
        var text = Encoding.UTF8.GetBytes(json);
        var header = new byte[(text.Length + 7) / 8 * 8];
        header.AsSpan().Fill((byte)' ');
        text.CopyTo(header, 0);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    static SafetensorsFormatException ReadFails(byte[] bytes, SafetensorsError expected)
    {
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Read(new MemoryStream(bytes)).Dispose());
        Assert.Equal(expected, e.Error);
        return e;
    }

    /// <summary>A stream that cannot seek or report its length, like a network response.</summary>
    sealed class ForwardOnlyStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    }
}
