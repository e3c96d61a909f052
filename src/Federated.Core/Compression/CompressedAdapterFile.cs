using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats.Peft;
using Federated.Core.Formats.Safetensors;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// A compressed adapter as one self-contained safetensors file. Each factor's payloads are tensors named
/// <c>&lt;PEFT key&gt;.&lt;part&gt;</c> (e.g. <c>base_model.model.&lt;module&gt;.lora_A.weight.q</c>); the metadata holds
/// the scheme, the modules in order with their alphas, use_rslora and the base model.
/// </summary>
public static class CompressedAdapterFile
{
    /// <summary>The conventional name, next to a client's adapter_config.json.</summary>
    public const string FileName = "adapter_model.compressed.safetensors";

    public const string SchemeMetadataKey = "federated.compression";
    /// <summary>
    /// JSON array of <c>{"name": module path, "alpha": lora_alpha, "rank": r, "in": in_features, "out": out_features}</c>, in
    /// module order: the shapes the factors decompress to, declared up front so that a payload is checked (and its dense size
    /// known) from its header alone, before anything is expanded.
    /// </summary>
    public const string ModulesMetadataKey = "federated.modules";
    public const string RsLoraMetadataKey = "federated.use_rslora";
    public const string BaseModelMetadataKey = "federated.base_model";

    /// <summary>Writes atomically: readers of <paramref name="path"/> never see a partial file.</summary>
    public static void Write(string path, CompressedAdapter adapter) =>
        SafetensorsWriter.Write(path, Tensors(adapter), Metadata(adapter));

    public static void Write(Stream stream, CompressedAdapter adapter) =>
        SafetensorsWriter.Write(stream, Tensors(adapter), Metadata(adapter));

    /// <summary>Reads and validates a compressed adapter; <see cref="CompressedAdapter.Decompress"/> expands it.</summary>
    /// <exception cref="AdapterFormatException">The file is malformed; the message names the offending tensor or metadata entry.</exception>
    public static CompressedAdapter Read(string path)
    {
        if (!File.Exists(path))
            throw new AdapterFormatException($"compressed adapter '{path}' does not exist");
        return CompressedAdapterParser.Parse(SafetensorsReader.Read(path), path);
    }

    /// <summary>Reads from the stream's current position to its end.</summary>
    /// <exception cref="AdapterFormatException">The data is malformed; the message names the offending tensor or metadata entry.</exception>
    public static CompressedAdapter Read(Stream stream) =>
        CompressedAdapterParser.Parse(SafetensorsReader.Read(stream), stream is FileStream file ? file.Name : "compressed adapter stream");

    /// <summary>The PEFT key of a factor; its payloads are stored as <c>&lt;key&gt;.&lt;part&gt;</c>.</summary>
    internal static string FactorKey(string module, bool isA) => isA ? PeftKeys.A(module) : PeftKeys.B(module);

    static IEnumerable<(string Name, Tensor Tensor)> Tensors(CompressedAdapter adapter) =>
        adapter.Modules.SelectMany(m =>
            m.A.Payloads.Select(p => ($"{FactorKey(m.Name, true)}.{p.Part}", p.Payload))
                .Concat(m.B.Payloads.Select(p => ($"{FactorKey(m.Name, false)}.{p.Part}", p.Payload))));

    static Dictionary<string, string> Metadata(CompressedAdapter adapter)
    {
        var metadata = new Dictionary<string, string>
        {
            [SchemeMetadataKey] = CompressionSchemes.Name(adapter.Scheme),
            [ModulesMetadataKey] = JsonSerializer.Serialize(adapter.Modules.Select(m => new { name = m.Name, alpha = m.Alpha, rank = m.Rank, @in = m.A.Columns, @out = m.B.Rows })),
            [RsLoraMetadataKey] = adapter.UseRsLora ? "true" : "false",
        };
        if (adapter.BaseModel is not null)
            metadata[BaseModelMetadataKey] = adapter.BaseModel;
        return metadata;
    }
}
