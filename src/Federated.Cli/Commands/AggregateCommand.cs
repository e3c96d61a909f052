using System.CommandLine;
using System.Globalization;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Formats.Peft;

namespace Federated.Cli.Commands;

/// <summary><c>fed aggregate</c>: combines client adapters (PEFT directories) into one global adapter.</summary>
static class AggregateCommand
{
    public static Command Create()
    {
        var strategy = new Option<string>("--strategy", "-s")
        {
            Description = "How factors combine: fedit (same ranks only), zero-padding, hetlora (norm-weighted zero-padding), " +
                          "flora (exact stacking), flexlora (truncated SVD of the exact sum), ffa (frozen shared A)",
            Required = true,
        };
        strategy.AcceptOnlyFromAmong([.. AggregationStrategies.Names]);
        var weights = new Option<string[]>("--weights", "-w")
        {
            Description = "Client weights in adapter order, e.g. example counts: --weights 100,250,80 (default: equal)",
            AllowMultipleArgumentsPerToken = true,
        };
        var rank = new Option<int?>("--rank") { Description = "Target rank for flexlora (default: the largest client rank)" };
        var dtype = CommandOptions.DType("Dtype of the result (default: the inputs' common dtype, else float32)");
        var output = CommandOptions.Out("Directory to write the global adapter to (PEFT format)");
        var adapters = new Argument<string[]>("adapter-dir") { Description = "Client adapters: PEFT directories", Arity = ArgumentArity.OneOrMore };

        var command = new Command("aggregate", "Aggregate client LoRA adapters (mixed ranks where the strategy allows) into a global adapter")
        {
            strategy, weights, rank, dtype, output, adapters,
        };
        command.SetAction(parse =>
        {
            var dirs = parse.GetValue(adapters)!;
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            if (dirs.Any(d => Path.GetFullPath(d).TrimEnd('/') == outDir.TrimEnd('/')))
                throw new ArgumentException($"--out {outDir} is one of the inputs; choose another directory");
            var coefficients = ParseWeights(parse.GetValue(weights), dirs.Length);
            var aggregator = AggregationStrategies.Create(parse.GetValue(strategy)!, parse.GetValue(rank), CommandOptions.ParseDType(parse.GetValue(dtype)));

            var updates = new List<LoraAdapter>();
            try
            {
                foreach (var dir in dirs) updates.Add(PeftAdapterDirectory.Read(dir));
                using var global = aggregator.Aggregate(updates, coefficients);
                PeftAdapterDirectory.Write(global, outDir);
                var ranks = global.Modules.Select(m => m.Rank).Distinct().Order().ToList();
                parse.InvocationConfiguration.Output.WriteLine(
                    $"{aggregator.Name}{(aggregator.IsExact ? " (exact)" : "")}: {updates.Count} adapters, {global.Modules.Count} modules, " +
                    $"global rank {string.Join("/", ranks)}, {global.ParameterCount:N0} parameters -> {outDir}");
            }
            finally
            {
                foreach (var u in updates) u.Dispose();
            }
            return FedCommandLine.ExitOk;
        });
        return command;
    }

    static double[] ParseWeights(string[]? raw, int count)
    {
        if (raw is null || raw.Length == 0) return ClientWeights.Equal(count);
        var values = raw.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x)
                ? x : throw new ArgumentException($"--weights: '{v}' is not a number"))
            .ToList();
        if (values.Count != count)
            throw new ArgumentException($"--weights has {values.Count} values for {count} adapters");
        return ClientWeights.Normalize(values);
    }
}
