using Federated.Simulator;
using Federated.Simulator.Experiments;
using Federated.Simulator.Reporting;

namespace Federated.Simulator.Tests;

/// <summary>Whole simulations, small: the real coordinator in-process, virtual clients training a tiny model on WordNet.</summary>
[Collection(TorchSharpCollection.Name)]
public sealed class SimulationTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-sim-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Experiment(string name, string settings, string extra = "")
    {
        string path = Path.Combine(_dir, name + ".json");
        File.WriteAllText(path, $$"""
        {
          "name": "{{name}}",
          "settings": {
            "seed": 7, "clients": 3, "clientsPerRound": 3, "rounds": 2, "localSteps": 3, "batchSize": 4, "parallelism": 2,
            "model": { "preset": "tiny", "pretrainSteps": 0, "contextLength": 96 },
            "data": { "source": "wordNet", "domains": ["noun.animal", "noun.food", "verb.motion"], "maxExamplesPerClient": 24, "evalExamplesPerClient": 4, "globalEvalExamples": 12 }
            {{settings}}
          }
          {{extra}}
        }
        """);
        return path;
    }

    (int Exit, string Out, string Err) Sim(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = ExperimentCommand.Run([.. args], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    (int Exit, string Out, string Err) Run(string experiment, string outDir) =>
        Sim("run", experiment, "--out", outDir, "--cache", Path.Combine(_dir, "cache"), "--plain");

    [Fact]
    public void A_tiny_simulation_runs_two_mixed_rank_rounds_and_writes_metrics_summary_table_and_plots()
    {
        string exp = Experiment("tiny", """, "ranks": [2, 4], "strategy": "flora", "evaluation": { "taskItems": 12, "taskEveryRounds": 1 } """);
        var (exit, output, error) = Run(exp, Path.Combine(_dir, "out"));

        Assert.True(exit == 0, error + output);
        string dir = Path.Combine(_dir, "out", "tiny");
        var csv = File.ReadAllLines(Path.Combine(dir, "tiny", RunResults.MetricsFile));
        Assert.Equal(string.Join(",", RoundMetrics.Columns), csv[0]);
        Assert.Equal(["0,base", "1,closed", "2,closed"], csv.Skip(1).Select(l => string.Join(",", l.Split(',').Take(2))));
        Assert.All(csv.Skip(2), l => Assert.Equal("3", l.Split(',')[4])); // all three accepted each round
        Assert.Contains("\"finalEvalLoss\"", File.ReadAllText(Path.Combine(dir, "tiny", RunResults.SummaryFile)));
        Assert.Contains("| tiny |", File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile)));
        var png = File.ReadAllBytes(Path.Combine(dir, "eval_loss.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        // taskEveryRounds 1: the task metric in every row, each accuracy inside its interval.
        var header = csv[0].Split(',');
        int accuracy = Array.IndexOf(header, "task_word_to_definition"), items = Array.IndexOf(header, "task_items");
        Assert.All(csv.Skip(1).Select(l => l.Split(',')), row =>
        {
            double value = Number(row[accuracy]), lower = Number(row[accuracy + 1]), upper = Number(row[accuracy + 2]);
            Assert.InRange(value, lower, upper);
            Assert.Equal("24", row[items]); // 12 synsets, both directions
        });
        Assert.True(File.Exists(Path.Combine(dir, "task_word_to_definition.png")));
        Assert.Contains("\"finalTask\"", File.ReadAllText(Path.Combine(dir, "tiny", RunResults.SummaryFile)));
    }

    static double Number(string text) => double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Two variants x two seeds, flora the reference: four runs, each seed's kept; the table pools them per method (mean ± sd)
    /// and gives fedit's paired interval against flora; the task metric is measured at the base and the final round only.
    /// </summary>
    [Fact]
    public void Seeds_expand_every_run_and_the_table_reports_mean_sd_and_paired_intervals_against_the_reference()
    {
        string exp = Experiment("seeds", """, "ranks": [4], "seeds": [1, 2], "evaluation": { "taskItems": 10 } """,
            """, "variants": [{ "name": "flora" }, { "name": "fedit", "strategy": "fedit" }], "reference": "flora" """);
        var (exit, output, error) = Run(exp, Path.Combine(_dir, "out"));

        Assert.True(exit == 0, error + output);
        string dir = Path.Combine(_dir, "out", "seeds");
        foreach (var run in new[] { "flora_seed-1", "flora_seed-2", "fedit_seed-1", "fedit_seed-2" })
        {
            var csv = File.ReadAllLines(Path.Combine(dir, run, RunResults.MetricsFile));
            int accuracy = Array.IndexOf(csv[0].Split(','), "task_definition_to_word");
            Assert.Equal([false, true, false], csv.Skip(1).Select(l => double.IsNaN(Number(l.Split(',')[accuracy]))));
        }
        Assert.Contains("\"seed\": 2", File.ReadAllText(Path.Combine(dir, "fedit_seed-2", RunResults.SummaryFile)));
        // One seed's variants start from the same base on the same items: its task result is measured once and shared.
        string[] Base(string run) => File.ReadAllLines(Path.Combine(dir, run, RunResults.MetricsFile))[1].Split(',');
        Assert.Equal(Base("flora_seed-1")[^8..^1], Base("fedit_seed-1")[^8..^1]);
        Assert.Equal("0.000", Base("fedit_seed-1")[^1]);
        var table = File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile));
        Assert.Contains("## Mean ± sd over seeds", table);
        Assert.Matches(@"\| fedit \| 2 \| \d\.\d{4} ± \d\.\d{4} \|", table);
        Assert.Contains("## Against the reference 'flora'", table);
        Assert.Matches(@"\| fedit \| 2 \| [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] (no difference|\*\*lower\*\*|\*\*higher\*\*) \|", table);
        Assert.DoesNotMatch(@"\| flora \| \d+ \| [+-]", table.Split("## Against")[1]); // the reference is not compared with itself
        Assert.True(File.Exists(Path.Combine(dir, "task_definition_to_word.png")));
    }

    [Fact]
    public void Seeds_multiply_the_runs_of_every_variant_and_a_variant_may_bring_its_own_seeds()
    {
        string exp = Experiment("grid", """, "ranks": [4], "seeds": [3, 4, 5] """,
            """, "variants": [{ "name": "a" }, { "name": "b", "strategy": "fedit" }, { "name": "c", "seeds": [9] }], "sweep": { "localSteps": [2, 5] } """);

        var runs = ExperimentLoader.Load(exp).Runs;

        Assert.Equal(3 * 2 + 3 * 2 + 1 * 2, runs.Count);
        Assert.Equal(["a localSteps=2 seed=3", "a localSteps=2 seed=4", "a localSteps=2 seed=5"], runs.Take(3).Select(r => r.Name));
        Assert.Equal([3L, 4, 5, 3, 4, 5], runs.Where(r => r.Variant == "b").Select(r => r.Settings.Seed));
        Assert.Equal([9L, 9], runs.Where(r => r.Variant == "c").Select(r => r.Settings.Seed));
        Assert.All(runs, r => Assert.Null(r.Settings.Seeds));
        Assert.Equal(["a localSteps=2", "a localSteps=5", "b localSteps=2", "b localSteps=5", "c localSteps=2", "c localSteps=5"], runs.Select(r => r.Group).Distinct());
        Assert.Equal("localSteps=5", runs.Last().Point);
    }

    /// <summary>
    /// The simulator submits through the coordinator's admission check: under ffa an attacker that rescales its factors
    /// changes the frozen A, and is refused at upload in every round (never submitted), as the gRPC path refuses it.
    /// </summary>
    [Fact]
    public void An_update_the_coordinator_refuses_is_refused_in_simulation_too()
    {
        string exp = Experiment("refused", """, "ranks": [4], "strategy": "ffa", "attack": { "fraction": 0.34, "type": "factor-rescaling", "strength": 3 } """);
        var (exit, output, error) = Run(exp, Path.Combine(_dir, "out"));

        Assert.True(exit == 0, error + output);
        var csv = File.ReadAllLines(Path.Combine(_dir, "out", "refused", "refused", RunResults.MetricsFile));
        int refused = Array.IndexOf(csv[0].Split(','), "refused"), submitted = Array.IndexOf(csv[0].Split(','), "submitted"), status = Array.IndexOf(csv[0].Split(','), "status");
        Assert.All(csv.Skip(2), l =>
        {
            var row = l.Split(',');
            Assert.Equal(("closed", "1", "2"), (row[status], row[refused], row[submitted]));
        });
    }

    [Fact]
    public void A_run_is_reproducible_from_its_seed()
    {
        string exp = Experiment("again", """, "ranks": [2, 4], "attack": { "fraction": 0.34, "type": "sign-flip" }, "rule": "geometric-median" """);
        Assert.Equal(0, Run(exp, Path.Combine(_dir, "first")).Exit);
        Assert.Equal(0, Run(exp, Path.Combine(_dir, "second")).Exit);

        // Everything but the timing columns must match (the task metric too).
        static IEnumerable<string> Metrics(string path)
        {
            var lines = File.ReadAllLines(path);
            var kept = lines[0].Split(',').Select((c, i) => (c, i)).Where(p => !p.c.EndsWith("_seconds")).Select(p => p.i).ToArray();
            return lines.Select(l => string.Join(",", kept.Select(i => l.Split(',')[i])));
        }
        var first = Metrics(Path.Combine(_dir, "first", "again", "again", RunResults.MetricsFile)).ToList();
        var second = Metrics(Path.Combine(_dir, "second", "again", "again", RunResults.MetricsFile)).ToList();
        Assert.Equal(first, second);
        Assert.True(first.Count == 4, string.Join("\n", first));
    }

    [Theory]
    [InlineData(""", "clientsPerRound": 5 """, "clientsPerRound: must be between 1 and clients (3), not 5")]
    [InlineData(""", "strategy": "stacking" """, "strategy: 'stacking' is not one of")]
    [InlineData(""", "strategy": "fedit", "ranks": [4, 8] """, "fedit needs one rank for all clients")]
    [InlineData(""", "rule": "krum", "byzantineCount": 1 """, "krum with byzantineCount 1 needs at least 5 clients per round, not 3")]
    [InlineData(""", "attack": { "type": "nonsense" } """, "attack.type: 'nonsense' is not one of")]
    [InlineData(""", "localSteps": "many" """, "could not be converted to System.Int32 (at $.settings.localSteps)")]
    [InlineData(""", "locSteps": 3 """, "locSteps")]
    [InlineData(""", "seeds": [1, 1] """, "seeds: at least one seed, none twice")]
    [InlineData(""", "evaluation": { "taskItems": -1 } """, "evaluation.taskItems: must be between 0 and 100000, not -1")]
    [InlineData(""", "evaluation": { "taskEvery": 2 } """, "taskEvery")]
    public void An_invalid_experiment_file_is_one_precise_error_line(string settings, string expected)
    {
        var (exit, _, error) = Sim("validate", Experiment("bad", settings));

        Assert.Equal(ExperimentCommand.ExitError, exit);
        Assert.StartsWith("fed-sim: error: ", error);
        Assert.Contains(expected, error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void A_reference_that_names_no_variant_is_one_error_line()
    {
        var (exit, _, error) = Sim("validate", Experiment("ref", "", """, "variants": [{ "name": "a" }, { "name": "b" }], "reference": "c" """));

        Assert.Equal(ExperimentCommand.ExitError, exit);
        Assert.Contains("reference: 'c' is not the name of a variant ('a', 'b')", error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void A_missing_file_and_unknown_arguments_are_refused()
    {
        Assert.Equal(ExperimentCommand.ExitError, Sim("validate", Path.Combine(_dir, "none.json")).Exit);
        Assert.Equal(ExperimentCommand.ExitUsage, Sim("run").Exit);
    }

    [Fact]
    public void Variants_times_sweep_values_give_one_named_run_each()
    {
        string exp = Experiment("grid", """, "ranks": [4] """,
            """, "variants": [{ "name": "fedit", "strategy": "fedit" }, { "name": "flora" }], "sweep": { "localSteps": [2, 5], "data.alpha": [0.1] } """);
        var runs = ExperimentLoader.Load(exp).Runs;

        Assert.Equal(["fedit localSteps=2 data.alpha=0.1", "fedit localSteps=5 data.alpha=0.1", "flora localSteps=2 data.alpha=0.1", "flora localSteps=5 data.alpha=0.1"],
            runs.Select(r => r.Name));
        Assert.Equal("fedit", runs[0].Settings.Strategy);
        Assert.Equal(5, runs[3].Settings.LocalSteps);
        Assert.Equal(0.1, runs[3].Settings.Data.Alpha);
    }

    [Fact]
    public void The_checked_in_experiments_are_valid()
    {
        string root = Path.Combine(AppContext.BaseDirectory, "experiments");
        var files = Directory.GetFiles(root, "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
            Assert.NotEmpty(ExperimentLoader.Load(file).Runs);
    }
}
