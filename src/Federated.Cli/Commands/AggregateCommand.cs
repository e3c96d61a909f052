using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Formats.Peft;
using Federated.Core.Robust;
using Federated.Core.Runtime;

namespace Federated.Cli.Commands;

/// <summary><c>fed aggregate</c>: combines client adapters (PEFT directories) into one global adapter.</summary>
static class AggregateCommand
{
    public const string ReportFileName = "aggregation_report.json";

    static readonly JsonSerializerOptions ReportJson = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static Command Create()
    {
        var strategy = new Option<string>("--strategy", "-s")
        {
            Description = "How factors combine: fedit (same ranks only), zero-padding, hetlora (norm-weighted zero-padding), " +
                          "flora (exact stacking), flexlora (truncated SVD of the exact sum), ffa (frozen shared A)",
            DefaultValueFactory = _ => "flora",
        };
        strategy.AcceptOnlyFromAmong([.. AggregationStrategies.Names]);
        var rule = new Option<string?>("--rule")
        {
            Description = "Byzantine-robust rule deciding how much each update counts, computed exactly in weight space " +
                          "for any mix of ranks (default: none, plain weighted mean)",
        };
        rule.AcceptOnlyFromAmong([.. RobustRules.Names, .. RobustRules.CoordinateWiseNames]);
        var pre = new Option<string?>("--pre") { Description = "Pre-aggregator run before the rule: bucketing (buckets of 2) or nnm (nearest-neighbour mixing)" };
        pre.AcceptOnlyFromAmong([.. RobustRules.PreAggregatorNames]);
        var root = new Option<string?>("--root") { Description = "fltrust: the server's own update on clean root data (a PEFT directory)" };
        var f = new Option<int>("--f")
        {
            Description = "Assumed number of Byzantine clients (krum, multi-krum, bulyan, nnm); values trimmed per side (trimmed-mean)",
            DefaultValueFactory = _ => 0,
        };
        var maxDense = new Option<long>("--max-dense-bytes")
        {
            Description = "median, trimmed-mean, bulyan: hold at most this many bytes of dense delta values at once per worker (they work in tiles of rows)",
            DefaultValueFactory = _ => CoordinateWiseRule.DefaultMaxDenseBytes,
        };
        var denseRank = new Option<int?>("--dense-rank")
        {
            Description = "median, trimmed-mean, bulyan: the rank their dense per-module result is written at, its relative error reported " +
                          "(default: the largest client rank of the module; 0: exactly, as B = D, A = I at rank min(d_out, d_in))",
        };
        var globalEnergy = new Option<double?>("--global-energy")
        {
            Description = "flora: truncate each module of the stack by SVD to the smallest rank keeping this fraction of its energy, in (0, 1] " +
                          "(FLoRIST), each module's rank and relative error reported (default: exact; a module is never above rank min(d_out, d_in))",
        };
        var tau = new Option<double?>("--tau") { Description = "Clipping radius for centered-clipping and norm-bound (default: the median distance or norm)" };
        var weights = new Option<string[]>("--weights", "-w")
        {
            Description = "Example counts in adapter order, e.g. --weights 100,250,80 (default: equal); p_k = n_k / sum n",
            AllowMultipleArgumentsPerToken = true,
        };
        var rank = new Option<int?>("--rank") { Description = "Target rank for flexlora (default: the largest client rank)" };
        var maxRank = new Option<int?>("--max-rank") { Description = "Reject updates whose rank exceeds this" };
        var normCap = new Option<double?>("--norm-cap") { Description = "Reject updates with ||dW||_F above this" };
        var skipRejected = new Option<bool>("--skip-rejected") { Description = "Aggregate the accepted updates when some are rejected (default: fail)" };
        var dtype = CommandOptions.DType("Dtype of the result (default: the inputs' common dtype, else float32)");
        var output = CommandOptions.Out($"Directory to write the global adapter to (PEFT format) and {ReportFileName}");
        var adapters = new Argument<string[]>("adapter") { Description = "Client adapters: PEFT directories or compressed uploads", Arity = ArgumentArity.OneOrMore };

        var command = new Command("aggregate", "Aggregate client LoRA adapters (mixed ranks where the strategy allows) into a global adapter")
        {
            strategy, rule, pre, root, f, tau, maxDense, denseRank, globalEnergy, weights, rank, maxRank, normCap, skipRejected, dtype, output, adapters,
        };
        command.SetAction(parse =>
        {
            MklDispatch.UseAvx512OnAmd(); // MKL's fastest kernels, chosen before any tensor work
            var dirs = parse.GetValue(adapters)!;
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            if (dirs.Any(d => Path.GetFullPath(d).TrimEnd('/') == outDir.TrimEnd('/')))
                throw new ArgumentException($"--out {outDir} is one of the inputs; choose another directory");
            var counts = ParseExampleCounts(parse.GetValue(weights), dirs.Length);
            using var rootUpdate = parse.GetValue(root) is { } rootDir ? AdapterSources.Read(rootDir) : null;
            var aggregator = new AggregatorOptions(
                parse.GetValue(strategy)!, parse.GetValue(rule), parse.GetValue(pre), parse.GetValue(f), parse.GetValue(tau),
                parse.GetValue(rank), parse.GetValue(normCap), parse.GetValue(maxDense), CommandOptions.ParseDType(parse.GetValue(dtype)), parse.GetValue(denseRank),
                parse.GetValue(globalEnergy))
                .Build(rootUpdate);

            var updates = new List<ClientUpdate>();
            try
            {
                for (int k = 0; k < dirs.Length; k++)
                    updates.Add(new ClientUpdate(dirs[k], AdapterSources.Read(dirs[k]), counts[k], parse.GetValue(maxRank)));
                using var result = aggregator.Aggregate(updates);
                var rejected = result.Report.Clients.FirstOrDefault(c => !c.Accepted);
                if (rejected is not null && !parse.GetValue(skipRejected))
                    throw new IncompatibleAdaptersException(
                        $"{rejected.ClientId} rejected: {rejected.RejectionMessage} (--skip-rejected aggregates the others)");

                PeftAdapterDirectory.Write(result.Global, outDir);
                File.WriteAllText(Path.Combine(outDir, ReportFileName), JsonSerializer.Serialize(result.Report, ReportJson) + "\n");
                Print(parse.InvocationConfiguration.Output, result, outDir);
            }
            finally
            {
                foreach (var u in updates) u.Adapter.Dispose();
            }
            return FedCommandLine.ExitOk;
        });
        return command;
    }

    static void Print(TextWriter o, AggregationResult result, string outDir)
    {
        var global = result.Global;
        var report = result.Report;
        o.WriteLine($"{report.Strategy}{(report.Exact ? " (exact)" : "")}{(report.Rule is { } r ? " + " + r : "")}: {report.Accepted} of {report.Clients.Count} adapters, " +
                    $"{global.Modules.Count} modules, global rank {string.Join("/", global.Modules.Select(m => m.Rank).Distinct().Order())}, " +
                    $"{global.ParameterCount:N0} parameters -> {outDir}");
        if (report.Factoring is { Count: > 0 } factoring)
        {
            var worst = factoring.MaxBy(m => m.RelativeError)!;
            string ranks = string.Join("/", factoring.Select(m => m.Rank).Distinct().Order());
            bool dense = report.Strategy == "dense"; // a coordinate-wise rule's result
            o.WriteLine(dense
                ? worst.RelativeError == 0
                    ? "  dense result written exactly"
                    : $"  dense result written at rank {ranks}: largest relative Frobenius error {worst.RelativeError:G4} ('{worst.Module}'; --dense-rank 0 writes it exactly)"
                : report.Exact
                    ? $"  {factoring.Count} modules stacked past min(d_out, d_in) written exactly at rank {ranks}"
                    : $"  stack truncated by energy to rank {ranks}: largest relative Frobenius error {worst.RelativeError:G4} ('{worst.Module}')");
        }
        if (report.Rule is null && report.Rejected == 0) return;
        foreach (var c in report.Clients)
            o.WriteLine(c.Accepted
                ? $"  {c.ClientId}: coefficient {c.Coefficient:F4} (weight {c.Weight:F4}), ||dW||_F {c.Norm:G4}"
                : $"  {c.ClientId}: rejected ({c.RejectionMessage})");
    }

    static long[] ParseExampleCounts(string[]? raw, int count)
    {
        if (raw is null || raw.Length == 0) return Enumerable.Repeat(1L, count).ToArray();
        var values = raw.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(v => long.TryParse(v, out var n) && n >= 0
                ? n : throw new ArgumentException($"--weights: '{v}' is not an example count (a non-negative integer)"))
            .ToArray();
        if (values.Length != count)
            throw new ArgumentException($"--weights has {values.Length} values for {count} adapters");
        if (values.All(v => v == 0))
            throw new ArgumentException("--weights: example counts must not all be zero");
        return values;
    }
}
