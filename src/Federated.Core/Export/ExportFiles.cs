using System.Text;
using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Core.Formats.Peft;
using Federated.IO;

namespace Federated.Core.Export;

/// <summary>An exported adapter with its <see cref="ExportReport"/>: a PEFT directory with a report file, or one payload carrying it.</summary>
public static class ExportFiles
{
    /// <summary>The report beside a PEFT adapter directory's two files; PEFT and vLLM ignore it.</summary>
    public const string ReportFileName = "export_report.json";

    /// <summary>Payload metadata entry holding the report's JSON.</summary>
    public const string ReportMetadataKey = "federated.export_report";

    public static void WriteDirectory(LoraAdapter adapter, ExportReport report, string directory)
    {
        PeftAdapterDirectory.Write(adapter, directory);
        var json = Encoding.UTF8.GetBytes(report.ToJson() + "\n");
        DurableFile.WriteBytes(Path.Combine(directory, ReportFileName), json);
    }

    public static void WritePayload(Stream stream, LoraAdapter adapter, ExportReport report) =>
        AdapterPayload.Write(stream, adapter, new Dictionary<string, string> { [ReportMetadataKey] = report.ToJson() });

    /// <summary>The report of a payload written by <see cref="WritePayload"/>, from its header; null when it has none.</summary>
    /// <exception cref="AdapterFormatException">The header, or the report in it, is malformed.</exception>
    public static ExportReport? ReadPayloadReport(Stream stream, string source = "adapter payload")
    {
        if (!AdapterPayload.ReadMetadata(stream, source).TryGetValue(ReportMetadataKey, out var json)) return null;
        try { return ExportReport.Parse(json); }
        catch (JsonException e) { throw new AdapterFormatException($"{source}: malformed '{ReportMetadataKey}': {e.Message}", e); }
    }
}
