using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>A factor with only some entries kept: their row-major positions (ascending) and float32 values; the rest are 0.</summary>
public sealed class SparseTensor : CompressedTensor
{
    internal const string ShapePart = "shape", IndicesPart = "indices", ValuesPart = "values";

    /// <param name="shape">int64 [rows, columns].</param>
    /// <param name="indices">int32 flat positions, strictly increasing.</param>
    /// <param name="values">float32, one per index.</param>
    internal SparseTensor(int rows, int columns, Tensor shape, Tensor indices, Tensor values) : base(rows, columns)
    {
        Indices = indices;
        Values = values;
        Payloads = [(ShapePart, shape), (IndicesPart, indices), (ValuesPart, values)];
    }

    internal static SparseTensor Create(int rows, int columns, Tensor indices, Tensor values) =>
        new(rows, columns, tensor(new long[] { rows, columns }), indices.to(int32), values);

    public Tensor Indices { get; }
    public Tensor Values { get; }
    public long KeptCount => Indices.numel();
    public override CompressionScheme Scheme => CompressionScheme.TopK;
    internal override IReadOnlyList<(string Part, Tensor Payload)> Payloads { get; }

    public override Tensor Decompress()
    {
        using var scope = NewDisposeScope();
        var dense = zeros(ElementCount, float32);
        dense.index_copy_(0, Indices.to(int64), Values);
        return dense.view(Rows, Columns).MoveToOuterDisposeScope();
    }

    internal static SparseTensor FromPayloads(FactorPayloads payloads)
    {
        payloads.RejectOthers(CompressionScheme.TopK, ShapePart, IndicesPart, ValuesPart);
        var (shape, rows, columns) = payloads.RequireShape(ShapePart);
        var count = (long)rows * columns;
        var indices = payloads.Require(IndicesPart, ScalarType.Int32, 1);
        var values = payloads.Require(ValuesPart, ScalarType.Float32, 1);
        var kept = indices.shape[0];
        if (kept > count)
            throw payloads.Error(IndicesPart, $"has {kept} entries, more than the {count} of a {rows} x {columns} factor");
        if (values.shape[0] != kept)
            throw payloads.Error(ValuesPart, $"has {values.shape[0]} entries, but '{payloads.Key}.{IndicesPart}' has {kept}");

        var positions = MemoryMarshal.Cast<byte, int>(indices.bytes);
        for (var i = 0; i < positions.Length; i++)
        {
            if (positions[i] < 0 || positions[i] >= count)
                throw payloads.Error(IndicesPart, $"entry {i} is {positions[i]}, outside [0, {count}) of a {rows} x {columns} factor");
            // Strictly increasing: one canonical encoding, and no position set twice.
            if (i > 0 && positions[i] <= positions[i - 1])
                throw payloads.Error(IndicesPart, $"entry {i} is {positions[i]}, not greater than entry {i - 1} ({positions[i - 1]})");
        }
        var floats = MemoryMarshal.Cast<byte, float>(values.bytes);
        for (var i = 0; i < floats.Length; i++)
            if (!float.IsFinite(floats[i]))
                throw payloads.Error(ValuesPart, $"entry {i} is {floats[i]}, expected a finite value");
        return new SparseTensor(rows, columns, shape, indices, values);
    }
}
