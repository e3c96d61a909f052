using System.Runtime.InteropServices;
using Federated.Core.Adapters;
using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// The payload tensors read from a file for one factor, with the checks every scheme needs.
/// Every failure is an <see cref="AdapterFormatException"/> naming the offending tensor.
/// </summary>
sealed class FactorPayloads(string source, string key, IReadOnlyDictionary<string, Tensor> parts)
{
    public string Key { get; } = key;

    /// <summary>The part's tensor, checked for dtype and number of dimensions.</summary>
    public Tensor Require(string part, ScalarType dtype, int dimensions)
    {
        if (!parts.TryGetValue(part, out var tensor))
            throw Error(part, "is missing");
        if (tensor.dtype != dtype)
            throw Error(part, $"is {SafetensorsDType.Name(tensor.dtype)}, expected {SafetensorsDType.Name(dtype)}");
        if (tensor.dim() != dimensions)
            throw Error(part, $"has shape {ShapeText(tensor)}, expected {dimensions} dimension(s)");
        return tensor;
    }

    /// <summary>Rejects parts the scheme does not define, which a reader would otherwise silently ignore.</summary>
    public void RejectOthers(CompressionScheme scheme, params string[] known)
    {
        foreach (var part in parts.Keys.Order(StringComparer.Ordinal))
            if (!known.Contains(part))
                throw Error(part, $"is not part of the {CompressionSchemes.Name(scheme)} encoding (expected {string.Join(", ", known.Select(k => $"'{k}'"))})");
    }

    /// <summary>A <c>shape</c> part: I64 [rows, columns], both positive, at most int.MaxValue entries in all.</summary>
    public (Tensor Shape, int Rows, int Columns) RequireShape(string part)
    {
        var shape = Require(part, ScalarType.Int64, 1);
        var dims = MemoryMarshal.Cast<byte, long>(shape.bytes);
        if (dims.Length != 2)
            throw Error(part, $"has {dims.Length} entries, expected 2 (rows, columns)");
        var (rows, columns) = CheckMatrix(part, dims[0], dims[1]);
        return (shape, rows, columns);
    }

    public (int Rows, int Columns) CheckMatrix(string part, long rows, long columns)
    {
        if (rows < 1 || columns < 1 || rows > int.MaxValue / columns)
            throw Error(part, $"describes a {rows} x {columns} factor; both must be positive with at most {int.MaxValue} entries");
        return ((int)rows, (int)columns);
    }

    public void CheckFiniteNonNegative(string part, ReadOnlySpan<float> values)
    {
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]) || values[i] < 0)
                throw Error(part, $"entry {i} is {values[i]}, expected a finite non-negative scale");
    }

    public AdapterFormatException Error(string part, string detail) => new($"{source}: tensor '{Key}.{part}' {detail}");

    static string ShapeText(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
