using Federated.Core.Adapters;

namespace Federated.Core.Compression;

/// <summary>A <see cref="LoraModule"/> with compressed factors. Owns them.</summary>
public sealed class CompressedModule : IDisposable
{
    internal CompressedModule(string name, CompressedTensor a, CompressedTensor b, double alpha, bool useRsLora)
    {
        if (a.Rows != b.Columns)
            throw new AdapterShapeException($"module '{name}': A is {a.Rows} x {a.Columns} but B is {b.Rows} x {b.Columns}; they disagree on the rank");
        if (a.Scheme != b.Scheme)
            throw new AdapterShapeException($"module '{name}': A is {CompressionSchemes.Name(a.Scheme)} but B is {CompressionSchemes.Name(b.Scheme)}");
        if (!double.IsFinite(alpha) || alpha == 0)
            throw new AdapterShapeException($"module '{name}': alpha must be finite and non-zero, got {alpha}");
        Name = name;
        A = a;
        B = b;
        Alpha = alpha;
        UseRsLora = useRsLora;
    }

    public string Name { get; }
    public CompressedTensor A { get; }
    public CompressedTensor B { get; }
    public double Alpha { get; }
    public bool UseRsLora { get; }
    public int Rank => A.Rows;
    public CompressionStats Stats => A.Stats + B.Stats;

    /// <summary>The module with dense float32 factors.</summary>
    public LoraModule Decompress()
    {
        var a = A.Decompress();
        try
        {
            return new LoraModule(Name, a, B.Decompress(), Alpha, UseRsLora);
        }
        catch
        {
            a.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
