using System.Buffers.Binary;
using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats.Peft;
using Federated.Core.Formats.Safetensors;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Core.Formats;

/// <summary>
/// An adapter as one self-contained safetensors file, the unit of the update store and the wire: a PEFT
/// <c>adapter_model.safetensors</c> whose metadata also carries its <c>adapter_config.json</c>. A compressed
/// upload (<see cref="CompressedAdapterFile"/>) is read through the same door, decompressed.
/// </summary>
public static class AdapterPayload
{
    /// <summary>Metadata entry holding the adapter_config.json text.</summary>
    public const string ConfigMetadataKey = "federated.adapter_config";

    public static void Write(Stream stream, LoraAdapter adapter) => Write(stream, adapter, extraMetadata: null);

    /// <summary>
    /// <see cref="Write(Stream, LoraAdapter)"/> with further metadata entries, e.g. an export's report; <see cref="Read"/>
    /// ignores them. The payload's own entries cannot be replaced.
    /// </summary>
    public static void Write(Stream stream, LoraAdapter adapter, IReadOnlyDictionary<string, string>? extraMetadata)
    {
        var config = PeftAdapterDirectory.ConfigFor(adapter);
        var tensors = adapter.Modules.SelectMany(m => new[] { (PeftKeys.A(m.Name), m.A), (PeftKeys.B(m.Name), m.B) });
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [PeftAdapterDirectory.ModuleOrderMetadataKey] = JsonSerializer.Serialize(adapter.Modules.Select(m => m.Name)),
            [ConfigMetadataKey] = config.ToJson(),
        };
        foreach (var (key, value) in extraMetadata ?? new Dictionary<string, string>())
            if (!metadata.TryAdd(key, value))
                throw new ArgumentException($"metadata '{key}' is the payload's own and cannot be replaced", nameof(extraMetadata));
        SafetensorsWriter.Write(stream, tensors, metadata);
    }

    /// <summary>The payload's metadata entries, from its header alone (see <see cref="Describe(Stream, string)"/>); the position moves past the header.</summary>
    /// <exception cref="AdapterFormatException">The header is malformed.</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(Stream stream, string source = "adapter payload")
    {
        var (prefix, payloadLength) = ReadPrefix(stream, source);
        return SafetensorsHeader.Parse(prefix.AsMemory(LengthPrefixBytes), payloadLength - prefix.Length, source).Metadata;
    }

    public static byte[] ToBytes(LoraAdapter adapter)
    {
        using var buffer = new MemoryStream();
        Write(buffer, adapter);
        return buffer.ToArray();
    }

    /// <summary>
    /// The most bytes <see cref="Read"/> expands a compressed payload to unless told otherwise: 4 GiB of float32 factors, more
    /// than any adapter of a 70B model at rank 64. Callers that know the model check its shapes first (<see cref="Describe(ReadOnlyMemory{byte}, long, string)"/>).
    /// </summary>
    public const long DefaultMaxDenseBytes = 4L << 30;

    /// <summary>Reads a payload written by <see cref="Write"/>, or a compressed upload (decompressed to float32).</summary>
    /// <param name="source">Names the payload in error messages.</param>
    /// <param name="maxDenseBytes">A compressed payload whose declared float32 factors exceed this is refused before anything is expanded.</param>
    /// <exception cref="AdapterFormatException">Malformed safetensors, a missing or invalid config, or factors that disagree with it.</exception>
    public static LoraAdapter Read(ReadOnlyMemory<byte> payload, string source = "adapter payload", long maxDenseBytes = DefaultMaxDenseBytes)
    {
        SafetensorsFile file;
        try
        {
            using var stream = new MemoryStream(payload.ToArray(), writable: false);
            file = SafetensorsReader.Read(stream);
        }
        catch (SafetensorsFormatException e)
        {
            throw new AdapterFormatException($"{source}: {e.Message}", e);
        }
        return Read(file, source, maxDenseBytes);
    }

    /// <summary>
    /// <see cref="Read(ReadOnlyMemory{byte}, string, long)"/> of a payload file, read tensor by tensor: its size is not bounded
    /// by an array's.
    /// </summary>
    /// <param name="source">Names the payload in error messages; default the path.</param>
    public static LoraAdapter ReadFile(string path, string? source = null, long maxDenseBytes = DefaultMaxDenseBytes)
    {
        SafetensorsFile file;
        try
        {
            file = SafetensorsReader.Read(path);
        }
        catch (SafetensorsFormatException e)
        {
            throw new AdapterFormatException($"{source ?? path}: {e.Message}", e);
        }
        return Read(file, source ?? path, maxDenseBytes);
    }

    static LoraAdapter Read(SafetensorsFile file, string source, long maxDenseBytes)
    {
        if (file.Metadata.ContainsKey(CompressedAdapterFile.SchemeMetadataKey))
        {
            // Parsing checks the data against the declared shapes; the dense size is known before anything is expanded.
            using var compressed = CompressedAdapterParser.Parse(file, source);
            long dense = compressed.Modules.Sum(m => (m.A.ElementCount + m.B.ElementCount) * sizeof(float));
            if (dense > maxDenseBytes)
                throw new AdapterFormatException(
                    $"{source}: the compressed adapter declares {dense:N0} bytes of float32 factors, over the {maxDenseBytes:N0}-byte limit");
            return compressed.Decompress();
        }
        try
        {
            return PeftAdapterDirectory.Build(file, ParseConfig(file.Metadata, source), source, source);
        }
        catch (AdapterShapeException e)
        {
            file.Dispose();
            throw new AdapterFormatException($"{source}: {e.Message}", e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The named modules of a plain payload described by <paramref name="description"/>, reading only their factors' bytes
    /// through <paramref name="readInto"/> (offset, destinations filled in order), one range per module (two where something
    /// lies between its factors), straight into the modules' tensors: a module-sharded aggregation holds K updates' share of a
    /// module, not K payloads, and works on payloads larger than an array can hold.
    /// </summary>
    /// <exception cref="ArgumentException">The payload is compressed (read it whole), or a name is not one of its modules.</exception>
    public static async Task<LoraAdapter> ReadModulesAsync(AdapterDescription description, IReadOnlyList<string> modules,
        Func<long, IReadOnlyList<Memory<byte>>, Task> readInto)
    {
        if (description.Compression is not null) throw new ArgumentException("a compressed payload is read whole", nameof(description));
        var read = new List<LoraModule>(modules.Count);
        try
        {
            foreach (var name in modules)
            {
                // A search, not a dictionary: a module shard reads one module of each update at a time.
                var m = description.Modules.FirstOrDefault(x => x.Name == name) ?? throw new ArgumentException($"the payload has no module '{name}'", nameof(modules));
                var data = m.Data!;
                Tensor aTensor = empty(new long[] { m.Rank, m.InFeatures }, m.DType), bTensor = empty(new long[] { m.OutFeatures, m.Rank }, m.DType);
                LoraModule module;
                try { module = new LoraModule(m.Name, aTensor, bTensor, m.Alpha, description.UseRsLora); }
                catch
                {
                    aTensor.Dispose();
                    bTensor.Dispose();
                    throw;
                }
                read.Add(module);
                Memory<byte> a = TensorMemory.Of(module.A), b = TensorMemory.Of(module.B);
                var (begin, end) = data.Span;
                if (end - begin == data.Length)
                    await readInto(begin, data.ABegin < data.BBegin ? [a, b] : [b, a]);
                else
                {
                    await readInto(data.ABegin, [a]);
                    await readInto(data.BBegin, [b]);
                }
            }
            return new LoraAdapter(read, description.BaseModel);
        }
        catch
        {
            foreach (var m in read) m.Dispose();
            throw;
        }
    }

    /// <summary>The 8-byte little-endian header length that starts every safetensors file.</summary>
    public const int LengthPrefixBytes = 8;

    /// <summary>
    /// How many bytes from the start of a <paramref name="payloadLength"/>-byte payload <see cref="Describe(ReadOnlyMemory{byte}, long, string)"/>
    /// needs (the length prefix and the JSON header), given the payload's first <see cref="LengthPrefixBytes"/> bytes.
    /// </summary>
    /// <exception cref="AdapterFormatException">The payload is too short, or the declared header does not fit in it or in <paramref name="maxHeaderBytes"/>.</exception>
    public static int PrefixLength(ReadOnlySpan<byte> first, long payloadLength, long maxHeaderBytes = SafetensorsHeader.MaxLength, string source = "adapter payload")
    {
        if (payloadLength < LengthPrefixBytes || first.Length < LengthPrefixBytes)
            throw new SafetensorsFormatException(SafetensorsError.Truncated,
                $"{source}: the file is {Math.Min(payloadLength, first.Length)} bytes, shorter than the 8-byte header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(first);
        // Both checks come before anything is allocated: the length is untrusted.
        var limit = Math.Min(maxHeaderBytes, SafetensorsHeader.MaxLength);
        if (headerLength > (ulong)limit)
            throw new SafetensorsFormatException(SafetensorsError.HeaderTooLarge,
                $"{source}: the header length is {headerLength} bytes, over the {limit}-byte limit");
        if ((long)headerLength > payloadLength - LengthPrefixBytes)
            throw new SafetensorsFormatException(SafetensorsError.HeaderBeyondFile,
                $"{source}: the header length is {headerLength} bytes, but only {payloadLength - LengthPrefixBytes} bytes follow it");
        return LengthPrefixBytes + (int)headerLength;
    }

    /// <summary>
    /// What a payload holds, from its header alone (the first <see cref="PrefixLength"/> bytes) and its total length: the
    /// safetensors header is validated as <see cref="Read"/> validates it (dtypes, shapes, data offsets tiling exactly the
    /// bytes after the header), and so is the adapter structure (LoRA factor names, A/B pairs, ranks against the config,
    /// dtypes, alphas). A plain payload that passes is one <see cref="Read"/> accepts: its tensor bytes are not looked at,
    /// and no check of <see cref="Read"/> looks at them either. A compressed payload is described by the shapes its metadata
    /// declares (<see cref="AdapterDescription.Compression"/> set), checked against its payload tensors; a full read refuses data
    /// that would decompress to anything else, so admitting the description bounds what decompression allocates.
    /// Memory is the header's, whatever the payload's size: for streaming uploads.
    /// </summary>
    /// <param name="prefix">At least the payload's first <see cref="PrefixLength"/> bytes (more are ignored).</param>
    /// <param name="knownModules">
    /// The base model's target layers, when known: a module outside them is refused before the config's rank_pattern and
    /// alpha_pattern are matched, so that cost is bounded by the model (see <see cref="PeftAdapterDirectory"/>).
    /// </param>
    /// <exception cref="AdapterFormatException">What <see cref="Read"/> would reject for the same reason.</exception>
    public static AdapterDescription Describe(ReadOnlyMemory<byte> prefix, long payloadLength, string source = "adapter payload",
        IReadOnlySet<string>? knownModules = null)
    {
        var length = PrefixLength(prefix.Span, payloadLength, SafetensorsHeader.MaxLength, source);
        if (prefix.Length < length)
            throw new ArgumentException($"the prefix has {prefix.Length} bytes, but the header needs the first {length}", nameof(prefix));
        var (entries, metadata) = SafetensorsHeader.Parse(prefix[LengthPrefixBytes..length], payloadLength - length, source);

        if (metadata.ContainsKey(CompressedAdapterFile.SchemeMetadataKey))
        {
            // Described like a plain payload: the shapes it decompresses to are declared in its metadata and checked
            // against its payload tensors here, so admission sees them before anything is expanded.
            var compressed = CompressedAdapterParser.Describe(entries.Select(e => (e.Name, e.DType, e.Shape)), metadata, source);
            return new AdapterDescription(
                compressed.Modules.Select(m => new AdapterModuleInfo(m.Name, m.Rank, m.InFeatures, m.OutFeatures, ScalarType.Float32, m.Alpha)).ToList(),
                compressed.BaseModel, compressed.UseRsLora, compressed.Scheme, length);
        }

        var config = ParseConfig(metadata, source);
        try
        {
            var layout = PeftAdapterDirectory.Layout(entries.Select(e => (e.Name, e.DType, e.Shape)), metadata, config, source, source, knownModules);
            var spans = entries.ToDictionary(e => e.Name, e => (Begin: length + e.Begin, End: length + e.End), StringComparer.Ordinal);
            return new AdapterDescription(
                layout.Select(m => new AdapterModuleInfo(m.Name, m.Rank, m.InFeatures, m.OutFeatures, m.DType, m.Alpha,
                    new FactorBytes(spans[m.AKey].Begin, spans[m.AKey].End, spans[m.BKey].Begin, spans[m.BKey].End))).ToList(),
                config.BaseModelNameOrPath, config.UseRsLora, Compression: null, length);
        }
        catch (AdapterShapeException e)
        {
            throw new AdapterFormatException($"{source}: {e.Message}", e);
        }
    }

    /// <summary><see cref="Describe(ReadOnlyMemory{byte}, long, string)"/> of a seekable stream from its current position to its end; the position moves past the header.</summary>
    public static AdapterDescription Describe(Stream stream, string source = "adapter payload")
    {
        var (prefix, payloadLength) = ReadPrefix(stream, source);
        return Describe(prefix, payloadLength, source);
    }

    /// <summary>The length prefix and JSON header from a seekable stream's position, and the payload's length from there.</summary>
    static (byte[] Prefix, long PayloadLength) ReadPrefix(Stream stream, string source)
    {
        var payloadLength = stream.Length - stream.Position;
        var first = new byte[LengthPrefixBytes];
        var got = stream.ReadAtLeast(first, LengthPrefixBytes, throwOnEndOfStream: false);
        var prefix = new byte[PrefixLength(first.AsSpan(0, got), payloadLength, SafetensorsHeader.MaxLength, source)];
        first.CopyTo(prefix, 0);
        stream.ReadExactly(prefix.AsSpan(LengthPrefixBytes));
        return (prefix, payloadLength);
    }

    static PeftAdapterConfig ParseConfig(IReadOnlyDictionary<string, string> metadata, string source)
    {
        if (!metadata.TryGetValue(ConfigMetadataKey, out var json))
            throw new AdapterFormatException($"{source}: no '{ConfigMetadataKey}' metadata: not an adapter payload (write one with AdapterPayload.Write)");
        PeftAdapterConfig config;
        try { config = PeftAdapterConfig.Parse(json); }
        catch (JsonException e) { throw new AdapterFormatException($"{source}: malformed '{ConfigMetadataKey}': {e.Message}", e); }
        if (config.PeftType != "LORA")
            throw new AdapterFormatException($"{source}: peft_type is '{config.PeftType}', but only LORA adapters are supported");
        return config;
    }
}

/// <summary>Where a module's factors lie in a plain payload: byte offsets from the payload's start, end exclusive.</summary>
public sealed record FactorBytes(long ABegin, long AEnd, long BBegin, long BEnd)
{
    /// <summary>The one range covering both factors (adjacent in payloads this project writes).</summary>
    public (long Begin, long End) Span => (Math.Min(ABegin, BBegin), Math.Max(AEnd, BEnd));

    /// <summary>Both factors' bytes, without what lies between them.</summary>
    public long Length => AEnd - ABegin + (BEnd - BBegin);
}

/// <summary>One LoRA module as a payload header declares it (<see cref="AdapterPayload.Describe(ReadOnlyMemory{byte}, long, string)"/>).</summary>
/// <param name="Data">Where its factors lie in a plain payload (null for a compressed one, which is read whole).</param>
public sealed record AdapterModuleInfo(string Name, int Rank, int InFeatures, int OutFeatures, ScalarType DType, double Alpha, FactorBytes? Data = null)
{
    public ModuleHeader Header => new(Name, Rank, InFeatures, OutFeatures);

    /// <summary>The last path segment, which PEFT's <c>target_modules</c> matches (e.g. <c>q_proj</c>).</summary>
    public string TargetName => Name[(Name.LastIndexOf('.') + 1)..];
}

/// <summary>An adapter payload's structure, read from its header without its tensor data.</summary>
/// <param name="Modules">In the payload's module order; for a compressed payload as it decompresses (float32).</param>
/// <param name="Compression">The scheme of a compressed payload; null for a plain one.</param>
/// <param name="HeaderBytes">Bytes before the tensor data: the length prefix and the JSON header.</param>
public sealed record AdapterDescription(IReadOnlyList<AdapterModuleInfo> Modules, string? BaseModel, bool UseRsLora, CompressionScheme? Compression, long HeaderBytes)
{
    /// <summary>The bytes the factors take once read (decompressed, for a compressed payload): what admission bounds.</summary>
    public long DenseBytes => Modules.Sum(m => ((long)m.Rank * m.InFeatures + (long)m.OutFeatures * m.Rank) * Safetensors.SafetensorsDType.ElementSize(m.DType));

    /// <summary>The distinct last path segments (PEFT's <c>target_modules</c>), sorted, as <see cref="LoraAdapter.TargetModules"/>.</summary>
    public IReadOnlyList<string> TargetModules => Modules.Select(m => m.TargetName).Distinct().Order(StringComparer.Ordinal).ToList();
}
