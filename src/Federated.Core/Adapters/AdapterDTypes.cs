using static TorchSharp.torch;

namespace Federated.Core.Adapters;

/// <summary>The floating-point types adapters are stored in.</summary>
public static class AdapterDTypes
{
    public static bool IsSupported(ScalarType dtype) =>
        dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;

    /// <summary>Parses <c>float32|fp32|float16|fp16|bfloat16|bf16</c>.</summary>
    public static ScalarType Parse(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "fp32" or "f32" => ScalarType.Float32,
        "float16" or "fp16" or "f16" or "half" => ScalarType.Float16,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"unknown dtype '{name}' (expected float32, float16 or bfloat16)"),
    };

    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => dtype.ToString(),
    };
}
