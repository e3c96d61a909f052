using Federated.Core.Formats.Safetensors;

namespace Federated.Core.Tests.Formats;

public class SafetensorsReadHeaderTests
{
    [Fact]
    public void ReadHeader_lists_the_tensors_and_metadata_of_a_file_without_its_data()
    {
        using var dir = new TempDirectory();
        using var a = zeros(3, 4, bfloat16);
        using var b = ones(5, float32);
        SafetensorsWriter.Write(dir.File("w.safetensors"), [("a", a), ("b", b)], new Dictionary<string, string> { ["format"] = "pt" });

        var (tensors, metadata) = SafetensorsReader.ReadHeader(dir.File("w.safetensors"));
        Assert.Equal(["a", "b"], tensors.Select(t => t.Name).Order());
        Assert.Equal(ScalarType.BFloat16, tensors.Single(t => t.Name == "a").DType);
        Assert.Equal([5L], tensors.Single(t => t.Name == "b").Shape);
        Assert.Equal("pt", metadata["format"]);
    }

    [Fact]
    public void ReadHeader_rejects_a_truncated_file_as_read_does()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("short.safetensors"), [1, 2, 3]);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.ReadHeader(dir.File("short.safetensors")));
        Assert.Equal(SafetensorsError.Truncated, e.Error);
    }
}
