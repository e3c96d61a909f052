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
        string exp = Experiment("tiny", """, "ranks": [2, 4], "strategy": "flora" """);
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

        // Everything but the timing columns must match.
        static IEnumerable<string> Metrics(string path) =>
            File.ReadAllLines(path).Select(l => string.Join(",", l.Split(',')[..^2]));
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
    public void An_invalid_experiment_file_is_one_precise_error_line(string settings, string expected)
    {
        var (exit, _, error) = Sim("validate", Experiment("bad", settings));

        Assert.Equal(ExperimentCommand.ExitError, exit);
        Assert.StartsWith("fed-sim: error: ", error);
        Assert.Contains(expected, error);
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
