using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// A factor whose entries are all -m, 0 or +m: a bitmap of the non-zero positions (row-major), one sign bit per
/// non-zero entry in position order (set = negative), and the magnitude m as one float32.
/// </summary>
public sealed class TernaryTensor : CompressedTensor
{
    internal const string ShapePart = "shape", MaskPart = "mask", SignsPart = "signs", ScalePart = "scale";

    /// <param name="shape">int64 [rows, columns].</param>
    /// <param name="mask">uint8, rows * columns bits, bit-packed.</param>
    /// <param name="signs">uint8, one bit per set mask bit, bit-packed.</param>
    /// <param name="scale">float32 scalar, the magnitude.</param>
    internal TernaryTensor(int rows, int columns, Tensor shape, Tensor mask, Tensor signs, Tensor scale) : base(rows, columns)
    {
        Mask = mask;
        Signs = signs;
        Scale = scale;
        Payloads = [(ShapePart, shape), (MaskPart, mask), (SignsPart, signs), (ScalePart, scale)];
    }

    internal static TernaryTensor Create(int rows, int columns, byte[] mask, byte[] signs, float magnitude) =>
        new(rows, columns, tensor(new long[] { rows, columns }), tensor(mask), tensor(signs), tensor(magnitude));

    public Tensor Mask { get; }
    public Tensor Signs { get; }
    public Tensor Scale { get; }
    public float Magnitude => Scale.item<float>();
    public long NonZeroCount => BitPacking.PopCount(Mask.bytes);
    public override CompressionScheme Scheme => CompressionScheme.Ternary;
    internal override IReadOnlyList<(string Part, Tensor Payload)> Payloads { get; }

    public override Tensor Decompress()
    {
        var dense = zeros(Rows, Columns, float32);
        var values = MemoryMarshal.Cast<byte, float>(dense.bytes);
        ReadOnlySpan<byte> mask = Mask.bytes, signs = Signs.bytes;
        var magnitude = Magnitude;
        var next = 0;
        for (var i = 0; i < values.Length; i++)
            if (BitPacking.Get(mask, i))
                values[i] = BitPacking.Get(signs, next++) ? -magnitude : magnitude;
        return dense;
    }

    internal static TernaryTensor FromPayloads(FactorPayloads payloads)
    {
        payloads.RejectOthers(CompressionScheme.Ternary, ShapePart, MaskPart, SignsPart, ScalePart);
        var (shape, rows, columns) = payloads.RequireShape(ShapePart);
        var count = (long)rows * columns;
        var mask = RequireBits(payloads, MaskPart, count);
        var kept = BitPacking.PopCount(mask.bytes);
        var signs = RequireBits(payloads, SignsPart, kept);
        var scale = payloads.Require(ScalePart, ScalarType.Float32, 0);
        payloads.CheckFiniteNonNegative(ScalePart, MemoryMarshal.Cast<byte, float>(scale.bytes));
        return new TernaryTensor(rows, columns, shape, mask, signs, scale);
    }

    static Tensor RequireBits(FactorPayloads payloads, string part, long bits)
    {
        var packed = payloads.Require(part, ScalarType.Byte, 1);
        var expected = BitPacking.ByteCount(bits);
        if (packed.shape[0] != expected)
            throw payloads.Error(part, $"has {packed.shape[0]} bytes, expected {expected} to hold {bits} bits");
        if (!BitPacking.PaddingIsClear(packed.bytes, bits))
            throw payloads.Error(part, $"has bits set past the {bits} it holds");
        return packed;
    }
}
