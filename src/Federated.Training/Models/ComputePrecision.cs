using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// The dtype a model's frozen base weights are held and computed in: "auto" takes bf16 on CUDA and fp32 on the CPU
/// (where bf16 saves memory but not time); "fp32" and "bf16" ask for one explicitly. LoRA factors, their gradients and
/// optimiser states stay float32 whatever the base is (PEFT's mixed precision for LoRA).
/// </summary>
public static class ComputePrecision
{
    public static ScalarType Select(string requested, Device device) => requested.ToLowerInvariant() switch
    {
        "auto" => device.type == TorchSharp.DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32,
        "fp32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"unknown precision '{requested}' (expected auto, fp32 or bf16)"),
    };

    /// <summary>The setting's name for a dtype, for logs and reports: "fp32" or "bf16".</summary>
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        _ => throw new ArgumentException($"{dtype} is not a compute precision (fp32 or bf16)"),
    };
}
