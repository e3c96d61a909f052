using System.Buffers.Binary;
using static TorchSharp.torch;

namespace Federated.Core.Formats.Safetensors;

/// <summary>Reads safetensors files, rejecting everything the official reader rejects.</summary>
public static class SafetensorsReader
{
    public static SafetensorsFile Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, path);
    }

    /// <summary>Reads from the stream's current position to its end.</summary>
    public static SafetensorsFile Read(Stream stream) =>
        Read(stream, stream is FileStream file ? file.Name : "safetensors stream");

    static SafetensorsFile Read(Stream stream, string source)
    {
        if (!stream.CanSeek)
        {
            // Sizes must be checked against what is really there; buffering grows only with bytes actually received.
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            return Read(copy, source);
        }

        var (entries, metadata) = ReadHeader(stream, source);

        // Validation guarantees the entries tile the rest of the stream in this order, so it is read sequentially.
        var tensors = new List<(string Name, Tensor Tensor)>(entries.Count);
        try
        {
            foreach (var entry in entries)
                tensors.Add((entry.Name, ReadTensor(stream, entry)));
        }
        catch
        {
            foreach (var (_, tensor) in tensors) tensor.Dispose();
            throw;
        }
        return new SafetensorsFile(tensors, metadata);
    }

    /// <summary>
    /// The tensors a file holds (names, dtypes, shapes) and its metadata, from its header alone, validated as <see cref="Read(string)"/>
    /// validates it: e.g. to learn a checkpoint's stored dtype without loading gigabytes.
    /// </summary>
    public static (IReadOnlyList<(string Name, ScalarType DType, long[] Shape)> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadHeader(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var (entries, metadata) = ReadHeader(stream, path);
        return (entries.Select(e => (e.Name, e.DType, e.Shape)).ToList(), metadata);
    }

    /// <summary>Reads and parses the header at a seekable stream's position, checked against the bytes that follow it.</summary>
    static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) ReadHeader(Stream stream, string source)
    {
        var available = stream.Length - stream.Position;
        if (available < 8)
            throw new SafetensorsFormatException(SafetensorsError.Truncated,
                $"{source}: the file is {available} bytes, shorter than the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);

        // Both checks come before the header buffer is allocated: the length is untrusted.
        if (headerLength > SafetensorsHeader.MaxLength)
            throw new SafetensorsFormatException(SafetensorsError.HeaderTooLarge,
                $"{source}: the header length is {headerLength} bytes, over the {SafetensorsHeader.MaxLength}-byte limit");
        if ((long)headerLength > available - 8)
            throw new SafetensorsFormatException(SafetensorsError.HeaderBeyondFile,
                $"{source}: the header length is {headerLength} bytes, but only {available - 8} bytes follow it");

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        return SafetensorsHeader.Parse(header, available - 8 - (long)headerLength, source);
    }

    static Tensor ReadTensor(Stream stream, SafetensorsEntry entry)
    {
        var tensor = empty(entry.Shape, entry.DType);
        try
        {
            // TorchSharp runs only on little-endian hosts, so the file's bytes are the in-memory layout.
            if (entry.ByteLength > int.MaxValue)
                tensor.ReadBytesFromStream(stream, 1 << 20); // A span cannot cover more than 2 GiB.
            else if (entry.ByteLength > 0)
                stream.ReadExactly(tensor.bytes);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }
}
