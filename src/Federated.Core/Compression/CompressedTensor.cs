using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// One compressed LoRA factor (rows x columns): the payload tensors a scheme stores, and how to expand them.
/// Owns its payloads. Decompression is a pure function of the payload bytes, so a factor read back from a
/// file decompresses bit for bit as the one that was written.
/// </summary>
public abstract class CompressedTensor : IDisposable
{
    private protected CompressedTensor(int rows, int columns)
    {
        Rows = rows;
        Columns = columns;
    }

    public int Rows { get; }
    public int Columns { get; }
    public long ElementCount => (long)Rows * Columns;
    public abstract CompressionScheme Scheme { get; }

    /// <summary>The dense factor, float32 on the CPU.</summary>
    public abstract Tensor Decompress();

    /// <summary>The payloads by part name; a file stores each as tensor <c>&lt;factor key&gt;.&lt;part&gt;</c>.</summary>
    internal abstract IReadOnlyList<(string Part, Tensor Payload)> Payloads { get; }

    public CompressionStats Stats =>
        new(Payloads.Sum(p => p.Payload.numel() * SafetensorsDType.ElementSize(p.Payload.dtype)), ElementCount * sizeof(float));

    /// <summary>Moves the payloads out of the current dispose scope, which would otherwise free them.</summary>
    internal void MoveToOuterDisposeScope()
    {
        foreach (var (_, payload) in Payloads) payload.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var (_, payload) in Payloads) payload.Dispose();
        GC.SuppressFinalize(this);
    }
}
