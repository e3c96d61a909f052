using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Core.Tests.Runtime;

public sealed class TensorMemoryTests
{
    [Fact]
    public async Task Bytes_written_through_the_memory_land_in_the_tensor()
    {
        using var tensor = zeros(3, 5);
        var memory = TensorMemory.Of(tensor);
        Assert.Equal(3 * 5 * sizeof(float), memory.Length);

        var values = Enumerable.Range(1, 15).Select(i => (float)i).ToArray();
        await new MemoryStream(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()).ReadExactlyAsync(memory);

        Assert.Equal(values, tensor.data<float>().ToArray());
        tensor[0, 0] = tensor[0, 0] * 10; // and the other way: the memory sees the tensor's writes
        Assert.Equal(10f, BitConverter.ToSingle(memory.Span[..4]));
    }

    [Fact]
    public void A_non_contiguous_tensor_is_refused()
    {
        using var tensor = zeros(3, 5);
        using var transposed = tensor.t();
        Assert.Throws<ArgumentException>(() => TensorMemory.Of(transposed));
    }
}
