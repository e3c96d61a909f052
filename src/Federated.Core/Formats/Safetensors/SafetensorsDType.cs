using static TorchSharp.torch;

namespace Federated.Core.Formats.Safetensors;

/// <summary>Maps safetensors dtype names to TorchSharp scalar types.</summary>
public static class SafetensorsDType
{
    // Ordered as the spec's Dtype enum, whose order the official writer sorts by (it is ascending alignment).
    static readonly (string Name, ScalarType Type, int Size)[] Supported =
    [
        ("BOOL", ScalarType.Bool, 1),
        ("U8", ScalarType.Byte, 1),
        ("I8", ScalarType.Int8, 1),
        ("I16", ScalarType.Int16, 2),
        ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2),
        ("I32", ScalarType.Int32, 4),
        ("F32", ScalarType.Float32, 4),
        ("F64", ScalarType.Float64, 8),
        ("I64", ScalarType.Int64, 8),
    ];

    // In the spec, but with no TorchSharp scalar type to hold them.
    static readonly HashSet<string> SpecOnly = new(StringComparer.Ordinal)
    {
        "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
        "U16", "U32", "U64", "C64",
    };

    public static bool IsSupported(ScalarType dtype) => Array.FindIndex(Supported, d => d.Type == dtype) >= 0;

    /// <summary>The safetensors name of <paramref name="dtype"/>, e.g. <c>BF16</c>.</summary>
    public static string Name(ScalarType dtype) => Supported[IndexOf(dtype)].Name;

    /// <summary>Bytes per element of <paramref name="dtype"/>.</summary>
    public static int ElementSize(ScalarType dtype) => Supported[IndexOf(dtype)].Size;

    /// <summary>Finds the scalar type for a dtype name; false if the name is unknown or has no TorchSharp type.</summary>
    public static bool TryParse(string name, out ScalarType dtype)
    {
        var i = Array.FindIndex(Supported, d => d.Name == name);
        dtype = i >= 0 ? Supported[i].Type : default;
        return i >= 0;
    }

    /// <summary>True for every dtype name the spec defines, including those this library cannot load.</summary>
    public static bool IsSpecName(string name) => TryParse(name, out _) || SpecOnly.Contains(name);

    /// <summary>Rank in the spec's dtype order; the official writer puts higher ranks first.</summary>
    internal static int SortRank(ScalarType dtype) => IndexOf(dtype);

    static int IndexOf(ScalarType dtype)
    {
        var i = Array.FindIndex(Supported, d => d.Type == dtype);
        return i >= 0 ? i : throw new ArgumentException($"dtype {dtype} cannot be stored in safetensors by this library", nameof(dtype));
    }
}
