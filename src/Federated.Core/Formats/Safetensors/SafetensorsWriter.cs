using System.Buffers.Binary;
using Federated.IO;
using static TorchSharp.torch;

namespace Federated.Core.Formats.Safetensors;

/// <summary>Writes safetensors files byte-for-byte as the official writer does.</summary>
public static class SafetensorsWriter
{
    /// <summary>Writes durably (<see cref="DurableFile"/>): readers of <paramref name="path"/> never see a partial file.</summary>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, ordered) = Prepare(tensors, metadata);
        DurableFile.Write(path, stream => WriteTo(stream, header, ordered));
    }

    public static void Write(Stream stream, IEnumerable<(string Name, Tensor Tensor)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, ordered) = Prepare(tensors, metadata);
        WriteTo(stream, header, ordered);
    }

    /// <summary>Orders the tensors like the official writer (dtype rank descending, then name) and builds the header.</summary>
    static (byte[] Header, List<(string Name, Tensor Tensor)> Ordered) Prepare(
        IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var ordered = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in ordered)
        {
            ArgumentNullException.ThrowIfNull(name);
            if (name == SafetensorsHeader.MetadataKey)
                throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor");
            if (!names.Add(name))
                throw new ArgumentException($"tensor '{name}' is given twice");
            if (!SafetensorsDType.IsSupported(tensor.dtype))
                throw new ArgumentException($"tensor '{name}': dtype {tensor.dtype} cannot be stored in safetensors");
        }
        ordered.Sort((x, y) =>
        {
            var byDType = SafetensorsDType.SortRank(y.Tensor.dtype).CompareTo(SafetensorsDType.SortRank(x.Tensor.dtype));
            return byDType != 0 ? byDType : Utf8Order.Instance.Compare(x.Name, y.Name);
        });

        var entries = new List<SafetensorsEntry>(ordered.Count);
        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var end = checked(offset + tensor.numel() * SafetensorsDType.ElementSize(tensor.dtype));
            entries.Add(new SafetensorsEntry(name, tensor.dtype, tensor.shape, offset, end));
            offset = end;
        }
        return (SafetensorsHeader.Serialize(entries, metadata), ordered);
    }

    static void WriteTo(Stream stream, byte[] header, List<(string Name, Tensor Tensor)> ordered)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var (_, tensor) in ordered)
            WriteData(stream, tensor);
        stream.Flush();
    }

    static void WriteData(Stream stream, Tensor tensor)
    {
        if (tensor.numel() == 0)
            return;
        using var scope = NewDisposeScope();
        // TorchSharp runs only on little-endian hosts, so row-major memory is the file's layout.
        var data = tensor.detach().cpu().contiguous();
        if (data.numel() * SafetensorsDType.ElementSize(data.dtype) > int.MaxValue)
            data.WriteBytesToStream(stream, 1 << 20); // A span cannot cover more than 2 GiB.
        else
            stream.Write(data.bytes);
    }
}
