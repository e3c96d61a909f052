namespace Federated.Core.Tests.Formats;

/// <summary>Raw-byte helpers: bit-exact comparisons and tensors holding arbitrary bit patterns (NaN payloads, subnormals...).</summary>
static class TensorBytes
{
    public static byte[] Of(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.numel() == 0 ? [] : t.detach().cpu().contiguous().bytes.ToArray();
    }

    public static Tensor Random(long[] shape, ScalarType dtype, int seed)
    {
        var t = empty(shape, dtype);
        var bytes = new byte[t.numel() * t.ElementSize];
        new Random(seed).NextBytes(bytes);
        if (bytes.Length > 0) t.bytes = bytes;
        return t;
    }

    public static void AssertIdentical(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(Of(expected), Of(actual));
    }
}
