using Federated.Training.Models;

namespace Federated.Training.Tests.Models;

public class ComputeDeviceTests
{
    [Fact]
    public void Auto_picks_cuda_only_when_this_build_sees_a_gpu() =>
        Assert.Equal(cuda.is_available() ? TorchSharp.DeviceType.CUDA : TorchSharp.DeviceType.CPU, ComputeDevice.Select("auto").type);

    [Fact]
    public void Asking_for_cuda_without_one_is_a_clear_error()
    {
        if (cuda.is_available()) return; // a GPU machine satisfies the request instead
        var e = Assert.Throws<ArgumentException>(() => ComputeDevice.Select("cuda"));
        Assert.Contains("TorchBackend=cuda", e.Message);
    }

    [Fact]
    public void An_unknown_device_is_rejected() =>
        Assert.Contains("unknown device 'tpu'", Assert.Throws<ArgumentException>(() => ComputeDevice.Select("tpu")).Message);
}
