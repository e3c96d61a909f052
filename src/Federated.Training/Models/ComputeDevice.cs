using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// Where a model trains: "auto" takes CUDA when the build has it (dotnet build -p:TorchBackend=cuda) and
/// a GPU is present, else the CPU; "cpu" and "cuda" ask for one explicitly.
/// </summary>
public static class ComputeDevice
{
    public static Device Select(string requested = "auto") => requested.ToLowerInvariant() switch
    {
        "auto" => cuda.is_available() ? CUDA : CPU,
        "cpu" => CPU,
        "cuda" => cuda.is_available() ? CUDA : throw new ArgumentException(
            "--device cuda: no CUDA device is available to this build (CPU builds need -p:TorchBackend=cuda and an NVIDIA GPU)"),
        _ => throw new ArgumentException($"unknown device '{requested}' (expected auto, cpu or cuda)"),
    };

    /// <summary>One line for logs and reports, e.g. "cpu (2 threads)" or "cuda (1 GPU)".</summary>
    public static string Describe(Device device) => device.type == TorchSharp.DeviceType.CUDA
        ? $"cuda ({cuda.device_count()} GPU{(cuda.device_count() == 1 ? "" : "s")})"
        : $"cpu ({get_num_threads()} threads)";
}
