using System.CommandLine;
using System.Diagnostics;
using Federated.Simulator.Experiments;
using Federated.Simulator.Reporting;
using Federated.Simulator.Runtime;
using Spectre.Console;

namespace Federated.Simulator;

/// <summary><c>fed-sim run</c> and <c>fed-sim validate</c>.</summary>
public static class ExperimentCommand
{
    public const int ExitOk = 0, ExitError = 1, ExitUsage = 2;

    public static RootCommand Create(TextWriter output)
    {
        var experiment = new Argument<string>("experiment") { Description = "An experiment file (simulations/experiments/*.json)" };
        var outDir = new Option<string>("--out") { Description = "Results go to OUT/<experiment name>/", DefaultValueFactory = _ => "results" };
        var cache = new Option<string>("--cache")
        {
            Description = "Where pretrained base models are cached",
            DefaultValueFactory = _ => Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "federated", "models"),
        };
        var only = new Option<string?>("--only") { Description = "Run only the runs whose name contains this text" };
        var plain = new Option<bool>("--plain") { Description = "Plain progress lines instead of live bars (automatic when output is redirected)" };
        var resume = new Option<bool>("--resume")
        {
            Description = "Keep the runs OUT already holds for the same settings (their rows.json) and run only the others: a long experiment can stop and go on",
        };

        var run = new Command("run", "Run an experiment: every variant and sweep point, then tables and plots") { experiment, outDir, cache, only, plain, resume };
        run.SetAction(async (parse, cancellation) =>
        {
            var (exp, runs) = ExperimentLoader.Load(parse.GetValue(experiment)!);
            if (parse.GetValue(only) is { } filter)
            {
                int all = runs.Count;
                runs = runs.Where(r => r.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
                if (runs.Count == 0)
                    throw new ExperimentException($"--only '{filter}' is in none of the {all} runs' names (a plain substring, any case; 'fed-sim validate' lists them)");
            }
            string dir = Path.Combine(parse.GetValue(outDir)!, exp.Name);
            bool live = !parse.GetValue(plain) && AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
            output.WriteLine($"{exp.Name}: {runs.Count} run(s) -> {Path.GetFullPath(dir)}");
            var results = new List<(ExperimentRun, IReadOnlyList<RoundMetrics>)>();
            async Task RunAll(ISimulationProgress progress)
            {
                var runner = new SimulationRunner(parse.GetValue(cache)!, SimulationDataBuilder.Build, progress);
                foreach (var r in runs)
                {
                    var clock = Stopwatch.StartNew();
                    string runDir = Path.Combine(dir, RunResults.Slug(r.Name));
                    if (parse.GetValue(resume) && RunResults.TryRead(runDir, r) is { } done)
                    {
                        progress.Log($"[{r.Name}] kept from {runDir}");
                        results.Add((r, done));
                        continue;
                    }
                    var rows = await runner.RunAsync(r, runDir, cancellation);
                    RunResults.Write(runDir, r, rows, clock.Elapsed);
                    results.Add((r, rows));
                }
            }
            if (live)
                await AnsiConsole.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .StartAsync(ctx => RunAll(new LiveProgress(ctx)));
            else
                await RunAll(new LineProgress(output));
            ExperimentReport.Write(dir, exp, results);
            output.WriteLine(File.ReadAllText(Path.Combine(dir, ExperimentReport.TableFile)));
            return ExitOk;
        });

        var report = new Command("report", "Write the tables and plots of the runs OUT already holds (a partial report of a long experiment says which runs are missing)")
        {
            experiment, outDir,
        };
        report.SetAction(parse =>
        {
            var (exp, runs) = ExperimentLoader.Load(parse.GetValue(experiment)!);
            string dir = Path.Combine(parse.GetValue(outDir)!, exp.Name);
            var done = runs.Select(r => (Run: r, Rows: RunResults.TryRead(Path.Combine(dir, RunResults.Slug(r.Name)), r)))
                .Where(r => r.Rows is not null).Select(r => (r.Run, (IReadOnlyList<RoundMetrics>)r.Rows!)).ToList();
            if (done.Count == 0) throw new ExperimentException($"{Path.GetFullPath(dir)} holds none of the {runs.Count} runs of {exp.Name} (fed-sim run writes them)");
            ExperimentReport.Write(dir, exp, done, runs);
            output.WriteLine($"{exp.Name}: {done.Count} of {runs.Count} run(s) done -> {Path.Combine(Path.GetFullPath(dir), ExperimentReport.TableFile)}");
            return ExitOk;
        });

        var validate = new Command("validate", "Check an experiment file and list its runs without running them") { experiment };
        validate.SetAction(parse =>
        {
            var (exp, runs) = ExperimentLoader.Load(parse.GetValue(experiment)!);
            output.WriteLine($"{exp.Name}: {runs.Count} run(s)");
            foreach (var r in runs)
                output.WriteLine($"  {r.Name}: {r.Settings.Clients} clients, {r.Settings.ClientsPerRound}/round, {r.Settings.Rounds} rounds, " +
                                 $"{r.Settings.Strategy}{(r.Settings.Rule is { } rule ? " + " + rule : "")}, ranks [{string.Join(", ", r.Settings.Ranks)}]" +
                                 (r.Settings.Attack is { } a ? $", {a.Fraction:P0} {a.Type} attackers" : ""));
            return ExitOk;
        });

        return new RootCommand("fed-sim: simulate federated LoRA fine-tuning with virtual clients on one machine (real coordinator, real training)")
        {
            run, report, validate, BaseModel.BaseModelCommand.Create(output),
        };
    }

    /// <summary>Runs the command line: bad experiments and usage errors are one line and a non-zero exit.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = Create(output);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            error.WriteLine($"fed-sim: {parse.Errors[0].Message} (see 'fed-sim --help')");
            return ExitUsage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (ExperimentException e)
        {
            error.WriteLine($"fed-sim: error: {e.Message}");
            return ExitError;
        }
    }
}
