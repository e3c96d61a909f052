using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

/// <summary>The host kernels (CPU spans) and the TorchSharp kernels (accelerators) must agree.</summary>
public class FactorKernelsTests
{
    public static TheoryData<ScalarType, ScalarType, bool> Cases()
    {
        var data = new TheoryData<ScalarType, ScalarType, bool>();
        foreach (var src in new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16 })
            foreach (var dst in new[] { ScalarType.Float32, ScalarType.Float64 })
                foreach (var accumulate in new[] { false, true })
                    data.Add(src, dst, accumulate);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Host_and_torch_kernels_write_the_same_blocks(ScalarType srcType, ScalarType dstType, bool accumulate)
    {
        var gen = new Generator(3);
        using var a = randn(3, 10, generator: gen).to(srcType);  // r x d_in
        using var b = randn(7, 3, generator: gen).to(srcType);   // d_out x r
        Tensor Rows(FactorKernels kernels)
        {
            var dst = full(8, 10, 0.5, dtype: dstType);
            kernels.RowBlock(a, dst, 4, -1.75, accumulate);
            return dst;
        }
        Tensor Columns(FactorKernels kernels)
        {
            var dst = full(7, 9, 0.5, dtype: dstType);
            kernels.ColumnBlock(b, dst, 5, 0.3, accumulate);
            return dst;
        }
        using var hostRows = Rows(FactorKernels.Host.Instance);
        using var torchRows = Rows(FactorKernels.Torch.Instance);
        using var hostCols = Columns(FactorKernels.Host.Instance);
        using var torchCols = Columns(FactorKernels.Torch.Instance);

        TensorAssert.Close(hostRows, torchRows, 1e-6);
        TensorAssert.Close(hostCols, torchCols, 1e-6);
        // The block landed where it should, and nothing else moved.
        using var expectedRow = a.to(float64) * -1.75 + (accumulate ? 0.5 : 0.0);
        TensorAssert.Close(hostRows.narrow(0, 4, 3), expectedRow, 1e-6);
        Assert.True(hostRows.narrow(0, 0, 4).eq(0.5).all().item<bool>());
        Assert.True(hostRows.narrow(0, 7, 1).eq(0.5).all().item<bool>());
        Assert.True(hostCols.narrow(1, 0, 5).eq(0.5).all().item<bool>());
        Assert.True(hostCols.narrow(1, 8, 1).eq(0.5).all().item<bool>());
    }

    [Theory]
    [InlineData(12, 3, 4000, 4189)]   // one band of rows; widths not in whole vectors: plain stores
    [InlineData(40, 3, 4000, 4189)]   // several bands: 8,192 floats per row leaves 8 rows per 256 KiB band
    [InlineData(40, 16, 8, 8168)]     // widths in whole vectors: non-temporal stores
    public void Host_and_torch_concatenate_columns_identically(int rows, int w0, int w1, int w2)
    {
        var gen = new Generator(4);
        var sources = new[] { randn(rows, w0, generator: gen), randn(rows, w1, generator: gen).to(ScalarType.BFloat16), randn(rows, w2, generator: gen) };
        using var host = FactorKernels.Host.Instance.ConcatColumns(sources, ScalarType.Float32);
        using var torch = FactorKernels.Torch.Instance.ConcatColumns(sources, ScalarType.Float32);
        using var expected = cat(sources.Select(t => t.to(float32)).ToList(), 1);
        Assert.True(host.eq(expected).all().item<bool>());
        Assert.True(torch.eq(expected).all().item<bool>());
        foreach (var t in sources) t.Dispose();
    }
}
