using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// The header-level promise of one compressed factor: given its declared shape (rows x columns), the payload tensors each
/// scheme stores, with their dtypes and sizes. Checked from names, dtypes and shapes alone, before any data is read; the
/// data-level checks (indices in range, scales finite) stay with the scheme types.
/// </summary>
static class PayloadShapes
{
    public static void Check(CompressionScheme scheme, string source, string key, long rows, long columns,
        IReadOnlyDictionary<string, (ScalarType DType, long[] Shape)> parts)
    {
        AdapterFormatException Error(string part, string detail) => new($"{source}: tensor '{key}.{part}' {detail}");

        string[] known = scheme switch
        {
            CompressionScheme.Int8 => [Int8Tensor.QuantizedPart, Int8Tensor.ScalePart],
            CompressionScheme.TopK => [SparseTensor.ShapePart, SparseTensor.IndicesPart, SparseTensor.ValuesPart],
            CompressionScheme.Ternary => [TernaryTensor.ShapePart, TernaryTensor.MaskPart, TernaryTensor.SignsPart, TernaryTensor.ScalePart],
            _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, null),
        };
        foreach (var part in parts.Keys.Order(StringComparer.Ordinal))
            if (!known.Contains(part))
                throw Error(part, $"is not part of the {CompressionSchemes.Name(scheme)} encoding (expected {string.Join(", ", known.Select(k => $"'{k}'"))})");
        if (rows > int.MaxValue / columns)
            throw new AdapterFormatException($"{source}: factor '{key}' is declared {rows} x {columns}, over {int.MaxValue} entries");
        long count = rows * columns;

        long[] Require(string part, ScalarType dtype, int dimensions)
        {
            if (!parts.TryGetValue(part, out var p)) throw Error(part, "is missing");
            if (p.DType != dtype) throw Error(part, $"is {SafetensorsDType.Name(p.DType)}, expected {SafetensorsDType.Name(dtype)}");
            if (p.Shape.Length != dimensions) throw Error(part, $"has shape [{string.Join(", ", p.Shape)}], expected {dimensions} dimension(s)");
            return p.Shape;
        }

        switch (scheme)
        {
            case CompressionScheme.Int8:
            {
                var q = Require(Int8Tensor.QuantizedPart, ScalarType.Int8, 2);
                if (q[0] != rows || q[1] != columns)
                    throw Error(Int8Tensor.QuantizedPart, $"is {q[0]} x {q[1]}, but the factor is declared {rows} x {columns}");
                var scale = Require(Int8Tensor.ScalePart, ScalarType.Float32, 1);
                if (scale[0] != rows)
                    throw Error(Int8Tensor.ScalePart, $"has {scale[0]} entries, but the factor has {rows} rows");
                break;
            }
            case CompressionScheme.TopK:
            {
                var shape = Require(SparseTensor.ShapePart, ScalarType.Int64, 1);
                if (shape[0] != 2) throw Error(SparseTensor.ShapePart, $"has {shape[0]} entries, expected 2 (rows, columns)");
                var kept = Require(SparseTensor.IndicesPart, ScalarType.Int32, 1)[0];
                if (kept > count)
                    throw Error(SparseTensor.IndicesPart, $"has {kept} entries, more than the {count} of a {rows} x {columns} factor");
                var values = Require(SparseTensor.ValuesPart, ScalarType.Float32, 1)[0];
                if (values != kept)
                    throw Error(SparseTensor.ValuesPart, $"has {values} entries, but '{key}.{SparseTensor.IndicesPart}' has {kept}");
                break;
            }
            case CompressionScheme.Ternary:
            {
                var shape = Require(TernaryTensor.ShapePart, ScalarType.Int64, 1);
                if (shape[0] != 2) throw Error(TernaryTensor.ShapePart, $"has {shape[0]} entries, expected 2 (rows, columns)");
                long maskBytes = BitPacking.ByteCount(count);
                var mask = Require(TernaryTensor.MaskPart, ScalarType.Byte, 1)[0];
                if (mask != maskBytes)
                    throw Error(TernaryTensor.MaskPart, $"has {mask} bytes, expected {maskBytes} to hold {count} bits");
                var signs = Require(TernaryTensor.SignsPart, ScalarType.Byte, 1)[0];
                if (signs > maskBytes)
                    throw Error(TernaryTensor.SignsPart, $"has {signs} bytes, more than the {maskBytes} that {count} entries need");
                Require(TernaryTensor.ScalePart, ScalarType.Float32, 0);
                break;
            }
        }
    }
}
