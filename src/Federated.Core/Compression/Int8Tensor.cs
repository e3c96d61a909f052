using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>A factor quantized per row: x ~ q * scale, q int8 in [-127, 127], one float32 scale per row.</summary>
public sealed class Int8Tensor : CompressedTensor
{
    internal const string QuantizedPart = "q", ScalePart = "scale";

    /// <param name="quantized">int8, rows x columns.</param>
    /// <param name="scales">float32, one per row.</param>
    internal Int8Tensor(Tensor quantized, Tensor scales) : base((int)quantized.shape[0], (int)quantized.shape[1])
    {
        Quantized = quantized;
        Scales = scales;
        Payloads = [(QuantizedPart, quantized), (ScalePart, scales)];
    }

    public Tensor Quantized { get; }
    public Tensor Scales { get; }
    public override CompressionScheme Scheme => CompressionScheme.Int8;
    internal override IReadOnlyList<(string Part, Tensor Payload)> Payloads { get; }

    public override Tensor Decompress()
    {
        using var scope = NewDisposeScope();
        return (Quantized.to(float32) * Scales.unsqueeze(1)).MoveToOuterDisposeScope();
    }

    internal static Int8Tensor FromPayloads(FactorPayloads payloads)
    {
        payloads.RejectOthers(CompressionScheme.Int8, QuantizedPart, ScalePart);
        var q = payloads.Require(QuantizedPart, ScalarType.Int8, 2);
        var (rows, _) = payloads.CheckMatrix(QuantizedPart, q.shape[0], q.shape[1]);
        var scales = payloads.Require(ScalePart, ScalarType.Float32, 1);
        if (scales.shape[0] != rows)
            throw payloads.Error(ScalePart, $"has {scales.shape[0]} entries, but '{payloads.Key}.{QuantizedPart}' has {rows} rows");
        payloads.CheckFiniteNonNegative(ScalePart, MemoryMarshal.Cast<byte, float>(scales.bytes));

        // -128 is never produced: the symmetric range keeps +-max|x| exactly representable.
        var values = MemoryMarshal.Cast<byte, sbyte>(q.bytes);
        var low = values.IndexOf(sbyte.MinValue);
        if (low >= 0)
            throw payloads.Error(QuantizedPart, $"entry {low} is -128, outside the quantized range [-127, 127]");
        return new Int8Tensor(q, scales);
    }
}
