using System.Text.Json.Nodes;
using Federated.Core.Export;
using Federated.Core.Formats;
using Federated.Core.Formats.Peft;
using Federated.Core.Tests.Formats;

namespace Federated.Core.Tests.Export;

public class ExportFilesTests
{
    [Fact]
    public void A_payload_carries_the_report_in_its_metadata_and_still_reads_as_the_adapter()
    {
        using var data = new DeltaHistoryData(seed: 61);
        var (export, report) = CumulativeExport.Truncated(data.Deltas, rank: 4);
        using var _ = export;
        using var buffer = new MemoryStream();
        ExportFiles.WritePayload(buffer, export, report);

        buffer.Position = 0;
        var back = ExportFiles.ReadPayloadReport(buffer);
        Assert.NotNull(back);
        Assert.Equal(report.ToJson(), back.ToJson());
        using var adapter = AdapterPayload.Read(buffer.ToArray());
        Assert.Equal(export.Modules.Select(m => m.Name), adapter.Modules.Select(m => m.Name));
    }

    [Fact]
    public void A_payload_without_a_report_reads_as_null()
    {
        using var data = new DeltaHistoryData(seed: 62);
        using var buffer = new MemoryStream(AdapterPayload.ToBytes(data.Deltas[0]));
        Assert.Null(ExportFiles.ReadPayloadReport(buffer));
    }

    [Fact]
    public void A_directory_export_has_the_peft_files_and_a_camel_case_report()
    {
        using var data = new DeltaHistoryData(seed: 63);
        using var export = CumulativeExport.Exact(data.Deltas);
        var report = CumulativeExport.ExactReport(data.Deltas);
        using var dir = new TempDirectory();
        ExportFiles.WriteDirectory(export, report, dir.Path);

        using var adapter = PeftAdapterDirectory.Read(dir.Path);
        Assert.Equal(export.ParameterCount, adapter.ParameterCount);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, ExportFiles.ReportFileName)))!;
        Assert.Equal("exact", (string?)json["mode"]);
        Assert.Equal(0.0, (double)json["maxRelativeError"]!);
        Assert.Equal(export.ParameterCount, (long)json["exportedParameters"]!);
        Assert.Equal(data.StackedRank(DeltaHistoryData.LateModule), (int)json["modules"]![DeltaHistoryData.Shapes.Count - 1]!["stackedRank"]!);
        Assert.Null(json["rank"]);
    }

    [Fact]
    public void Extra_payload_metadata_cannot_replace_the_payloads_own_config()
    {
        using var data = new DeltaHistoryData(seed: 64);
        var extra = new Dictionary<string, string> { [AdapterPayload.ConfigMetadataKey] = "{}" };
        var e = Assert.Throws<ArgumentException>(() => AdapterPayload.Write(Stream.Null, data.Deltas[0], extra));
        Assert.Contains(AdapterPayload.ConfigMetadataKey, e.Message);
    }
}
