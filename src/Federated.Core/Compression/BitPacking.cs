using System.Numerics;

namespace Federated.Core.Compression;

/// <summary>Bit vectors stored eight to a byte, least significant bit first (numpy's <c>bitorder="little"</c>).</summary>
static class BitPacking
{
    public static int ByteCount(long bits) => checked((int)((bits + 7) / 8));

    /// <summary>Packs one flag per byte (0 or 1, as torch stores bools) into bits.</summary>
    public static byte[] Pack(ReadOnlySpan<byte> flags)
    {
        var packed = new byte[ByteCount(flags.Length)];
        for (var i = 0; i < flags.Length; i++)
            if (flags[i] != 0)
                packed[i >> 3] |= (byte)(1 << (i & 7));
        return packed;
    }

    public static bool Get(ReadOnlySpan<byte> packed, int index) => (packed[index >> 3] & (1 << (index & 7))) != 0;

    public static long PopCount(ReadOnlySpan<byte> packed)
    {
        long count = 0;
        foreach (var b in packed) count += BitOperations.PopCount(b);
        return count;
    }

    /// <summary>True when the bits past <paramref name="bits"/> in the last byte are zero, as <see cref="Pack"/> leaves them.</summary>
    public static bool PaddingIsClear(ReadOnlySpan<byte> packed, long bits) =>
        bits % 8 == 0 || (packed[^1] >> (int)(bits % 8)) == 0;
}
