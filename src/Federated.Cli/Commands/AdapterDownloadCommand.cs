using System.CommandLine;
using System.Security.Cryptography;
using Federated.Cli.Remote;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Core.Formats.Peft;

namespace Federated.Cli.Commands;

/// <summary><c>fed adapter download ID [--round N] --out DIR</c>: a federation's global adapter as a PEFT directory.</summary>
static class AdapterDownloadCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var id = new Argument<string>("id") { Description = "Federation id" };
        var round = new Option<int?>("--round") { Description = "The global adapter after this round (default: the latest)" };
        var output = CommandOptions.Out("Directory to write the adapter to (PEFT: adapter_model.safetensors + adapter_config.json)");
        var command = new Command("download", "Download a federation's global adapter from a coordinator as a PEFT adapter directory") { id, round, output };
        command.Options.Add(remote.Coordinator);
        command.SetAction(async (parse, ct) =>
        {
            string federation = parse.GetValue(id)!;
            string path = $"api/federations/{Uri.EscapeDataString(federation)}/adapter" + (parse.GetValue(round) is { } r ? $"?round={r}" : "");
            using var client = remote.Client(parse);
            using var response = await client.DownloadAsync(path, ct);
            byte[] payload = await response.Content.ReadAsByteArrayAsync(ct);
            // The coordinator names the content's SHA-256; a truncated or altered transfer must not become an adapter.
            string? expected = response.Headers.TryGetValues("X-Federated-Sha256", out var values) ? values.FirstOrDefault() : null;
            string actual = Convert.ToHexStringLower(SHA256.HashData(payload));
            if (expected is not null && !string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
                throw new CoordinatorException($"the downloaded adapter's SHA-256 is {actual}, but the coordinator announced {expected}: transfer corrupted, try again");
            string adapterRound = response.Headers.TryGetValues("X-Federated-Round", out var rounds) ? rounds.First() : "?";

            using var adapter = AdapterPayload.Read(payload, $"global adapter of '{federation}' (round {adapterRound})");
            string outDir = parse.GetValue(output)!;
            PeftAdapterDirectory.Write(adapter, outDir);
            parse.InvocationConfiguration.Output.WriteLine(
                $"round {adapterRound} global adapter of {federation}: {adapter.Modules.Count} modules, ranks " +
                $"{string.Join("/", adapter.Modules.Select(m => m.Rank).Distinct().Order())}, {adapter.ParameterCount:N0} parameters, " +
                $"sha256:{actual[..12]} -> {Path.GetFullPath(outDir)}");
            return FedCommandLine.ExitOk;
        });
        return command;
    }
}
