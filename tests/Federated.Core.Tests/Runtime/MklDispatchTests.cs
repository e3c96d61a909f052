using System.Runtime.InteropServices;
using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Tests.Runtime;

public class MklDispatchTests
{
    [Fact]
    public void Mkl_takes_its_avx512_path_on_an_amd_cpu_with_avx512_and_is_left_alone_elsewhere()
    {
        // The test assembly chose at load (tests/TestAssemblyStart.cs), before any tensor work, as a host does at start.
        var outcome = MklDispatch.UseAvx512OnAmd();
        if (Environment.GetEnvironmentVariable(MklDispatch.SwitchVariable) == "0")
            Assert.Equal(MklKernelPath.Disabled, outcome);
        else if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64 && MklDispatch.IsAmdWithAvx512())
        {
            Assert.Equal(MklKernelPath.Avx512, outcome);
            Assert.Equal(1, MklDispatch.IntelCpuAnswer()); // what MKL's own vendor check now returns
        }
        else
            Assert.Equal(MklKernelPath.VendorDefault, outcome);
    }

    [Fact]
    public void Gemm_on_the_chosen_kernels_matches_a_float64_product()
    {
        MklDispatch.UseAvx512OnAmd();
        const int m = 301, k = 257, n = 190; // odd sizes: the kernels' edge cases too
        using var generator = new Generator(7);
        using var a = randn([m, k], generator: generator);
        using var b = randn([k, n], generator: generator);
        using var product = a.mm(b);
        float[] x = a.data<float>().ToArray(), y = b.data<float>().ToArray(), z = product.data<float>().ToArray();
        double worst = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double exact = 0, scale = 0;
                for (int l = 0; l < k; l++)
                {
                    exact += (double)x[i * k + l] * y[l * n + j];
                    scale += Math.Abs((double)x[i * k + l] * y[l * n + j]);
                }
                worst = Math.Max(worst, Math.Abs(z[i * n + j] - exact) / scale);
            }
        Assert.True(worst < 1e-6, $"worst error relative to the sum of |terms|: {worst:E2}");
    }

    [Fact]
    public void Only_the_known_code_of_the_vendor_check_gives_an_address_to_write()
    {
        // mov eax, [rip + 0x100]; test eax, eax; js +1; ret
        byte[] known = [0x8B, 0x05, 0x00, 0x01, 0x00, 0x00, 0x85, 0xC0, 0x78, 0x01, 0xC3];
        var handle = GCHandle.Alloc(known, GCHandleType.Pinned);
        try
        {
            nint code = handle.AddrOfPinnedObject();
            Assert.Equal(code + 6 + 0x100, MklDispatch.CachedAnswer(code));
            known[7] = 0xC9; // test ecx, ecx: not the function this was checked against
            Assert.Null(MklDispatch.CachedAnswer(code));
            known[7] = 0xC0;
            known[0] = 0x8D; // lea
            Assert.Null(MklDispatch.CachedAnswer(code));
        }
        finally
        {
            handle.Free();
        }
    }
}
