using System.Globalization;

namespace Federated.Cli.Commands;

/// <summary>Sizes as HF's <c>max_shard_size</c> writes them: 2GB, 500MB (powers of 1000), 1GiB, 512MiB (powers of 1024), or plain bytes.</summary>
static class ByteSize
{
    static readonly (string Suffix, long Factor)[] Units =
    [
        ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1),
    ];

    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var trimmed = text.Trim();
        var (suffix, factor) = Units.FirstOrDefault(u => trimmed.EndsWith(u.Suffix, StringComparison.OrdinalIgnoreCase), ("", 1));
        if (!double.TryParse(trimmed[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || value * factor > long.MaxValue)
            return false;
        bytes = (long)(value * factor);
        return bytes > 0;
    }

    public static long Parse(string text) =>
        TryParse(text, out var bytes) ? bytes : throw new ArgumentException($"'{text}' is not a size (e.g. 2GB, 500MB, 1GiB or bytes)");
}
