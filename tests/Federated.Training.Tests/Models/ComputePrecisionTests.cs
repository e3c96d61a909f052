using Federated.Training.Models;

namespace Federated.Training.Tests.Models;

public class ComputePrecisionTests
{
    /// <summary>A CUDA device description; <c>torch.CUDA</c> itself refuses to exist on a CPU build.</summary>
    static readonly Device Gpu = new(TorchSharp.DeviceType.CUDA);

    [Fact]
    public void Auto_is_fp32_on_the_cpu_and_bf16_on_cuda()
    {
        Assert.Equal(ScalarType.Float32, ComputePrecision.Select("auto", CPU));
        Assert.Equal(ScalarType.BFloat16, ComputePrecision.Select("auto", Gpu));
        Assert.Equal(ScalarType.Float32, ComputePrecision.Select("auto", ComputeDevice.Select("cpu")));
    }

    [Fact]
    public void An_explicit_precision_holds_on_any_device()
    {
        Assert.Equal(ScalarType.BFloat16, ComputePrecision.Select("BF16", CPU));
        Assert.Equal(ScalarType.Float32, ComputePrecision.Select("fp32", Gpu));
        Assert.Equal("bf16", ComputePrecision.Name(ScalarType.BFloat16));
        Assert.Equal("fp32", ComputePrecision.Name(ScalarType.Float32));
    }

    [Fact]
    public void An_unknown_precision_is_rejected_naming_the_choices() =>
        Assert.Contains("unknown precision 'fp16' (expected auto, fp32 or bf16)",
            Assert.Throws<ArgumentException>(() => ComputePrecision.Select("fp16", CPU)).Message);
}
