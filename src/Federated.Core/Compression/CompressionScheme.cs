namespace Federated.Core.Compression;

/// <summary>How a compressed adapter's factors are encoded.</summary>
public enum CompressionScheme
{
    /// <summary>Per-row int8 quantization with one float32 scale per row.</summary>
    Int8,
    /// <summary>The largest-magnitude entries of each factor, as (index, float32 value) pairs.</summary>
    TopK,
    /// <summary>ComPEFT-style: kept positions as a bitmap, their signs as bits, one float32 magnitude per factor.</summary>
    Ternary,
}

/// <summary>The scheme names stored in compressed files.</summary>
public static class CompressionSchemes
{
    public static string Name(CompressionScheme scheme) => scheme switch
    {
        CompressionScheme.Int8 => "int8",
        CompressionScheme.TopK => "topk",
        CompressionScheme.Ternary => "ternary",
        _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, null),
    };

    public static bool TryParse(string name, out CompressionScheme scheme)
    {
        foreach (var candidate in Enum.GetValues<CompressionScheme>())
        {
            if (Name(candidate) == name)
            {
                scheme = candidate;
                return true;
            }
        }
        scheme = default;
        return false;
    }
}
