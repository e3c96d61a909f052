namespace Federated.Core.Compression;

/// <summary>
/// Size of a compressed adapter against the same factors in float32. Counts tensor payload bytes only:
/// the file's JSON header adds a few hundred bytes per factor, which matters only for tiny adapters.
/// </summary>
public readonly record struct CompressionStats(long CompressedBytes, long Float32Bytes)
{
    /// <summary>Compressed bytes / float32 bytes: 1 is no saving, 0.25 is a fourfold one.</summary>
    public double Ratio => Float32Bytes == 0 ? 0 : (double)CompressedBytes / Float32Bytes;

    public static CompressionStats operator +(CompressionStats x, CompressionStats y) =>
        new(x.CompressedBytes + y.CompressedBytes, x.Float32Bytes + y.Float32Bytes);
}
