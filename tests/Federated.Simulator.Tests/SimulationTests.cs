using Federated.Simulator;
using Federated.Simulator.Experiments;
using Federated.Simulator.Reporting;
using Federated.Simulator.Runtime;

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

    /// <summary>A run's base-model row: every metric but the timings.</summary>
    static string[] BaseRow(string runDirectory)
    {
        var lines = File.ReadAllLines(Path.Combine(runDirectory, RunResults.MetricsFile));
        var header = lines[0].Split(',');
        return lines[1].Split(',').Where((_, i) => !header[i].EndsWith("_seconds")).ToArray();
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
        // So are its held-out losses: a variant run alone, by a fresh runner, measures the same base row; another seed's
        // data gives another one.
        Assert.Equal(0, Sim("run", exp, "--out", Path.Combine(_dir, "alone"), "--cache", Path.Combine(_dir, "cache"), "--plain", "--only", "fedit").Exit);
        foreach (var run in new[] { "fedit_seed-1", "fedit_seed-2" })
            Assert.Equal(BaseRow(Path.Combine(dir, run)), BaseRow(Path.Combine(_dir, "alone", "seeds", run)));
        Assert.NotEqual(BaseRow(Path.Combine(dir, "flora_seed-1")), BaseRow(Path.Combine(dir, "flora_seed-2")));
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

    [Fact]
    public async Task Runs_with_the_same_data_settings_and_seed_build_their_data_once()
    {
        string exp = Experiment("shared-data", """, "ranks": [4], "rounds": 1, "localSteps": 1, "evaluation": { "taskItems": 0 } """,
            """, "variants": [{ "name": "a" }, { "name": "b", "strategy": "fedit" }, { "name": "c", "seeds": [8] }] """);
        var built = new List<long>();
        var runner = new SimulationRunner(Path.Combine(_dir, "cache"), (s, tokenizer) =>
        {
            built.Add(s.Seed);
            return SimulationDataBuilder.Build(s, tokenizer);
        }, new LineProgress(TextWriter.Null));

        foreach (var run in ExperimentLoader.Load(exp).Runs)
            Assert.NotEmpty(await runner.RunAsync(run, Path.Combine(_dir, "out", RunResults.Slug(run.Name)), CancellationToken.None));

        Assert.Equal([7L, 8], built);
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
    [InlineData(""", "clients": 8, "clientsPerRound": 8, "rule": "krum", "preAggregator": "bucketing", "byzantineCount": 1 """, "krum behind bucketing with byzantineCount 1 needs at least 9 clients per round, not 8")]
    [InlineData(""", "attack": { "type": "nonsense" } """, "attack.type: 'nonsense' is not one of")]
    [InlineData(""", "localSteps": "many" """, "could not be converted to System.Int32 (at $.settings.localSteps)")]
    [InlineData(""", "locSteps": 3 """, "locSteps")]
    [InlineData(""", "seeds": [1, 1] """, "seeds: at least one seed, none twice")]
    [InlineData(""", "evaluation": { "taskItems": -1 } """, "evaluation.taskItems: must be between 0 and 100000, not -1")]
    [InlineData(""", "evaluation": { "taskEvery": 2 } """, "taskEvery")]
    [InlineData(""", "evaluation": { "lossEveryRounds": 0 } """, "evaluation.lossEveryRounds: must be at least 1, not 0")]
    [InlineData(""", "rule": "median", "preAggregator": "nnm" """, "preAggregator: nnm needs a Gram-based rule")]
    [InlineData(""", "mode": "local", "attack": { "type": "alie" } """, "mode: local training is a bound without attackers")]
    [InlineData(""", "mode": "everywhere" """, "(at $.settings.mode)")]
    [InlineData(""", "globalEnergy": 0 """, "globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not 0")]
    [InlineData(""", "globalEnergy": 1.01 """, "globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not 1.01")]
    [InlineData(""", "strategy": "hetlora", "globalEnergy": 0.9 """, "globalEnergy: truncates a stacked global (flora, flexlora), not hetlora's")]
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
    public void An_only_filter_that_names_no_run_is_one_error_line_and_runs_nothing()
    {
        string exp = Experiment("filtered", "", """, "variants": [{ "name": "a" }, { "name": "b" }] """);
        string outDir = Path.Combine(_dir, "filtered-out");

        var (exit, _, error) = Sim("run", exp, "--out", outDir, "--plain", "--only", "^a");

        Assert.Equal(ExperimentCommand.ExitError, exit);
        Assert.Contains("--only '^a' is in none of the 2 runs' names", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir));
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

    /// <summary>
    /// Two rules x two conditions x two seeds: conditions cross every variant; the table pivots methods against conditions
    /// (mean ± sd, paired intervals against the reference under the same condition, attackers left out); one loss plot per
    /// condition; with lossEveryRounds 2 the loss is measured at the base and round 2 only.
    /// </summary>
    [Fact]
    public void Conditions_cross_every_variant_and_the_table_pivots_methods_against_conditions()
    {
        string exp = Experiment("conditions", """, "ranks": [4], "seeds": [1, 2], "localSteps": 2, "evaluation": { "taskItems": 0, "lossEveryRounds": 2 } """,
            """
            , "variants": [{ "name": "mean" }, { "name": "median", "rule": "median" }], "reference": "mean",
              "conditions": [{ "name": "no attack", "attack": null }, { "name": "scaled", "attack": { "type": "scaled", "fraction": 0.34 } }]
            """);
        var runs = ExperimentLoader.Load(exp).Runs;
        Assert.Equal(["mean | no attack seed=1", "mean | no attack seed=2", "mean | scaled seed=1", "mean | scaled seed=2",
                      "median | no attack seed=1", "median | no attack seed=2", "median | scaled seed=1", "median | scaled seed=2"], runs.Select(r => r.Name));
        Assert.Null(runs[0].Settings.Attack);
        Assert.Equal(("scaled", "median", "scaled"), (runs[7].Settings.Attack!.Type, runs[7].Settings.Rule, runs[7].Condition));

        var (exit, output, error) = Run(exp, Path.Combine(_dir, "out"));

        Assert.True(exit == 0, error + output);
        string dir = Path.Combine(_dir, "out", "conditions");
        var table = File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile));
        Assert.Contains("## Final held-out loss by condition", table);
        Assert.Contains("| method | no attack | scaled |", table);
        Assert.Matches(@"\| median \| \d\.\d{4} ± \d\.\d{4} \| \d\.\d{4} ± \d\.\d{4} \|", table);
        var against = table.Split("## Against 'mean' by condition")[1];
        Assert.Matches(@"\| median \| [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] [^|]+\| [+-]\d\.\d{4} \[", against);
        Assert.Contains("| mean | - | - |", against);
        Assert.Contains("## Attackers' updates left out", table);
        Assert.True(File.Exists(Path.Combine(dir, "eval_loss_no_attack.png")) && File.Exists(Path.Combine(dir, "eval_loss_scaled.png")));
        var csv = File.ReadAllLines(Path.Combine(dir, "median_scaled_seed-2", RunResults.MetricsFile));
        int loss = Array.IndexOf(csv[0].Split(','), "eval_loss");
        Assert.Equal([false, true, false], csv.Skip(1).Select(l => double.IsNaN(Number(l.Split(',')[loss]))));
    }

    [Fact]
    public void The_bounds_train_one_client_on_the_union_with_the_federations_steps_or_every_client_alone()
    {
        var s = new RunSettings { Clients = 3, ClientsPerRound = 3, LocalSteps = 4, Ranks = [2, 4, 8], Strategy = "flora", Rule = "median", Mode = TrainingMode.Centralised };
        var centralised = TrainingBounds.Centralised(s);
        Assert.Equal((1, 1, 12, 8, "fedit", (string?)null, TrainingMode.Federated),
            (centralised.Clients, centralised.ClientsPerRound, centralised.LocalSteps, centralised.Ranks.Single(), centralised.Strategy, centralised.Rule, centralised.Mode));
        var local = TrainingBounds.Local(s, 1);
        Assert.Equal((1, 4, 4), (local.Clients, local.LocalSteps, local.Ranks.Single()));

        string exp = Experiment("bounds", """, "ranks": [2, 4], "localSteps": 2, "evaluation": { "taskItems": 8 } """,
            """, "variants": [{ "name": "federated" }, { "name": "centralised", "mode": "centralised" }, { "name": "local", "mode": "local" }] """);
        var (exit, output, error) = Run(exp, Path.Combine(_dir, "out"));

        Assert.True(exit == 0, error + output);
        string[][] Rows(string run) => File.ReadAllLines(Path.Combine(_dir, "out", "bounds", run, RunResults.MetricsFile)).Skip(1).Select(l => l.Split(',')).ToArray();
        // accepted per round: the federation's 3 clients; the one centralised client; the 3 clients' own one-client federations, summed.
        Assert.Equal(["3", "3"], Rows("federated").Skip(1).Select(r => r[4]));
        Assert.Equal(["1", "1"], Rows("centralised").Skip(1).Select(r => r[4]));
        Assert.Equal(["3", "3"], Rows("local").Skip(1).Select(r => r[4]));
        // The same base model, data and held-out sets: the three runs start from the same losses.
        Assert.Equal(Rows("federated")[0][12], Rows("centralised")[0][12]);
        Assert.Equal(Rows("federated")[0][12], Rows("local")[0][12]);
        Assert.All(new[] { "centralised", "local" }, run => Assert.True(double.IsFinite(Number(Rows(run)[^1][12]))));
        // Local-only has no task result of its own (one evaluation per client model would be needed).
        Assert.Matches(@"\| local \| [^\n]*\| - \| - \| \d+ \|", File.ReadAllText(Path.Combine(_dir, "out", "bounds", ExperimentReport.TableFile)));
    }

    [Fact]
    public void Resume_keeps_the_runs_done_for_the_same_settings_and_runs_the_rest()
    {
        string exp = Experiment("resume", """, "ranks": [4], "rounds": 1, "localSteps": 2, "evaluation": { "taskItems": 0 } """,
            """, "variants": [{ "name": "a" }, { "name": "b", "strategy": "fedit" }] """);
        string outDir = Path.Combine(_dir, "out"), dir = Path.Combine(outDir, "resume");
        Assert.Equal(0, Run(exp, outDir).Exit);
        File.Delete(Path.Combine(dir, "b", RunResults.RowsFile));
        // report writes the tables of what is done, and says what is not.
        var partial = Sim("report", exp, "--out", outDir);
        Assert.True(partial.Exit == 0, partial.Err);
        Assert.Contains("resume: 1 of 2 run(s) done", partial.Out);
        Assert.Contains("**Partial: 1 of 2 runs done.** Not run yet: b.", File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile)));
        Assert.DoesNotContain("| b |", File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile)));
        var kept = File.GetLastWriteTimeUtc(Path.Combine(dir, "a", RunResults.MetricsFile));
        string table = File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile)).Replace("**Partial: 1 of 2 runs done.** Not run yet: b.\n\n", "");
        // A hand-written reading of the numbers, appended to the generated file: regenerating moves it after the description and keeps it.
        string reading = $"{ExperimentReport.ReadingStart}\nThe numbers say little.\n{ExperimentReport.ReadingEnd}";
        File.AppendAllText(Path.Combine(dir, ExperimentReport.TableFile), "\n" + reading + "\n");

        var (exit, output, error) = Sim("run", exp, "--out", outDir, "--cache", Path.Combine(_dir, "cache"), "--plain", "--resume");

        Assert.True(exit == 0, error + output);
        Assert.Contains("[a] kept from", output);
        Assert.DoesNotContain("[b] kept", output);
        Assert.Equal(kept, File.GetLastWriteTimeUtc(Path.Combine(dir, "a", RunResults.MetricsFile)));
        Assert.True(File.Exists(Path.Combine(dir, "b", RunResults.RowsFile)));
        string regenerated = File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile));
        Assert.Equal(1, regenerated.Split(reading).Length - 1);
        Assert.True(regenerated.IndexOf(reading, StringComparison.Ordinal) < regenerated.IndexOf("## Runs", StringComparison.Ordinal), regenerated);
        string Row(string t, string run) => t.Split('\n').Single(l => l.StartsWith($"| {run} |"));
        Assert.Equal(Row(table, "a"), Row(File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile)), "a"));

        // Other settings are another run: nothing is kept.
        File.WriteAllText(exp, File.ReadAllText(exp).Replace("\"seed\": 7", "\"seed\": 8"));
        Assert.DoesNotContain("kept from", Sim("run", exp, "--out", outDir, "--cache", Path.Combine(_dir, "cache"), "--plain", "--resume").Out);
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
