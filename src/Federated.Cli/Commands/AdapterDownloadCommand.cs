using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Federated.Cli.Remote;
using Federated.Core.Adapters;
using Federated.Core.Export;
using Federated.Core.Formats;
using Federated.Core.Formats.Peft;

namespace Federated.Cli.Commands;

/// <summary>
/// <c>fed adapter download ID --out DIR</c>: a federation's whole model (base + merged history + live adapter) as one PEFT
/// adapter directory, exact or truncated (<c>--rank</c>, <c>--for-vllm</c>) with its error report; <c>--round N</c> is
/// that round's delta alone, for inspection.
/// </summary>
static class AdapterDownloadCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var id = new Argument<string>("id") { Description = "Federation id" };
        var round = new Option<int?>("--round") { Description = "Only this round's delta (the round's aggregate), for inspection; the model is every round's" };
        var rank = new Option<int?>("--rank") { Description = "Truncate every module to this rank (SVD of the exact model, from the factors); reports each module's error" };
        var forVllm = new Option<bool>("--for-vllm") { Description = "The smallest rank vLLM serves (max_lora_rank 1, 8, 16, ..., 512) within --max-error" };
        var maxError = new Option<double>("--max-error") { Description = "With --for-vllm: largest relative Frobenius error per module (default 0.01)", DefaultValueFactory = _ => 0.01 };
        var output = CommandOptions.Out("Directory to write the adapter to (PEFT: adapter_model.safetensors + adapter_config.json, and export_report.json)");
        var command = new Command("download", "Download a federation's model from a coordinator as one PEFT adapter directory (loads in Python PEFT and vLLM)")
        {
            id, round, rank, forVllm, maxError, output,
        };
        remote.AddConnectionTo(command);
        command.SetAction(async (parse, ct) =>
        {
            string federation = parse.GetValue(id)!;
            int? r = parse.GetValue(round), keep = parse.GetValue(rank);
            bool vllm = parse.GetValue(forVllm);
            if ((r is not null ? 1 : 0) + (keep is not null ? 1 : 0) + (vllm ? 1 : 0) > 1)
                throw new ArgumentException("--round, --rank and --for-vllm exclude each other");
            string escaped = Uri.EscapeDataString(federation);
            string path = r is { } n ? $"api/federations/{escaped}/adapter?round={n}"
                : keep is { } k ? $"api/federations/{escaped}/model?rank={k}"
                : vllm ? $"api/federations/{escaped}/model?maxError={parse.GetValue(maxError).ToString("R", CultureInfo.InvariantCulture)}"
                : $"api/federations/{escaped}/model";
            using var client = remote.Client(parse);
            using var response = await client.DownloadAsync(path, ct);
            // Streamed to a temporary file, hashed on the way, and read back tensor by tensor: a model may exceed 2 GiB.
            string payload = Path.Combine(Path.GetTempPath(), $"fed-download-{Guid.NewGuid():N}.safetensors");
            try
            {
                string actual = await SaveAsync(response, payload, ct);
                // The coordinator names the content's SHA-256; a truncated or altered transfer must not become an adapter.
                string? expected = response.Headers.TryGetValues("X-Federated-Sha256", out var values) ? values.FirstOrDefault() : null;
                if (expected is not null && !string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
                    throw new CoordinatorException($"the downloaded adapter's SHA-256 is {actual}, but the coordinator announced {expected}: transfer corrupted, try again");
                string atRound = response.Headers.TryGetValues("X-Federated-Round", out var rounds) ? rounds.First() : "?";

                string what = r is null ? $"model of '{federation}' after round {atRound}" : $"round {atRound} delta of '{federation}'";
                using var adapter = AdapterPayload.ReadFile(payload, what);
                ExportReport? report;
                using (var stream = File.OpenRead(payload)) report = ExportFiles.ReadPayloadReport(stream, what);
                string outDir = parse.GetValue(output)!;
                if (report is null) PeftAdapterDirectory.Write(adapter, outDir);
                else ExportFiles.WriteDirectory(adapter, report, outDir);

                var o = parse.InvocationConfiguration.Output;
                o.WriteLine($"{what}: {adapter.Modules.Count} modules, ranks {string.Join("/", adapter.Modules.Select(m => m.Rank).Distinct().Order())}, " +
                            $"{adapter.ParameterCount:N0} parameters, sha256:{actual[..12]} -> {Path.GetFullPath(outDir)}");
                if (report is not null) PrintReport(o, report);
                return FedCommandLine.ExitOk;
            }
            finally
            {
                File.Delete(payload);
            }
        });
        return command;
    }

    /// <summary>Writes the response body to <paramref name="path"/>; returns its SHA-256.</summary>
    static async Task<string> SaveAsync(HttpResponseMessage response, string path, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[1 << 20];
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read), ct);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    static void PrintReport(TextWriter o, ExportReport report)
    {
        o.WriteLine(report.Mode == "exact"
            ? $"exact: the sum of {report.Deltas} delta(s); vLLM needs max_lora_rank >= {report.VllmMaxLoraRank?.ToString(CultureInfo.InvariantCulture) ?? "(above 512: use --rank or --for-vllm)"}"
            : $"{report.Mode} at rank {report.Rank}: largest relative Frobenius error {report.MaxRelativeError:P2} (export_report.json has every module)");
        if (report.Mode == "exact") return;
        foreach (var m in report.Modules.OrderByDescending(m => m.RelativeError).Take(5))
            o.WriteLine($"  {m.Name}: kept {m.KeptRank} of {m.StackedRank}, energy {m.RetainedEnergy:P3}, error {m.RelativeError:P3}");
    }
}
