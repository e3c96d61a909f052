using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Federated.Core.Federation;
using Federated.Attacks;
using Federated.Core.Robust;
using Federated.Training.Lora;

namespace Federated.Simulator.Experiments;

/// <summary>Reads an experiment file strictly (unknown fields are errors), expands variants and sweeps, and validates every run.</summary>
public static class ExperimentLoader
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <exception cref="ExperimentException">The file is missing, malformed, or a run's settings are invalid.</exception>
    public static (Experiment Experiment, IReadOnlyList<ExperimentRun> Runs) Load(string path)
    {
        if (!File.Exists(path)) throw new ExperimentException($"{path}: no such experiment file");
        Experiment experiment;
        try
        {
            experiment = JsonSerializer.Deserialize<Experiment>(File.ReadAllText(path), Json)
                ?? throw new ExperimentException($"{path}: the file holds null, not an experiment");
        }
        catch (JsonException e)
        {
            throw new ExperimentException($"{path}: {Describe(e)}", e);
        }
        // A model directory is relative to the experiment file, so experiments run from any working directory.
        if (experiment.Settings.Model.Directory is { } model && !Path.IsPathRooted(model))
            experiment = experiment with
            {
                Settings = experiment.Settings with
                {
                    Model = experiment.Settings.Model with { Directory = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, model)) },
                },
            };
        return (experiment, Expand(experiment, path));
    }

    public static IReadOnlyList<ExperimentRun> Expand(Experiment experiment, string source = "experiment")
    {
        if (string.IsNullOrWhiteSpace(experiment.Name) || experiment.Name.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_'))
            throw new ExperimentException($"{source}: name '{experiment.Name}' must be letters, digits, '-' or '_' (it names the results directory)");
        var variants = Named(experiment.Variants, "variant");
        var conditions = Named(experiment.Conditions, "condition");
        if (conditions.Count > 1 && conditions.Any(c => c.Name.Length == 0))
            throw new ExperimentException($"{source}: conditions: each needs a name (it heads a table column)");
        var runs = new List<ExperimentRun>();
        foreach (var (variantName, overrides) in variants)
            foreach (var (conditionName, conditionOverrides) in conditions)
                foreach (var combination in Combinations(experiment.Sweep.ToList()))
                {
                    string label = string.Join(" | ", new[] { variantName, conditionName }.Where(s => s.Length > 0));
                    var settings = Apply(experiment.Settings, overrides.Concat(conditionOverrides).Concat(combination), source, label);
                    string sweepPoint = string.Join(" ", combination.Select(c => $"{c.Key}={Compact(c.Value)}"));
                    string point = string.Join(" ", new[] { conditionName, sweepPoint }.Where(s => s.Length > 0));
                    string name = string.Join(" ", new[] { label, sweepPoint }.Where(s => s.Length > 0));
                    Validate(settings, source, name.Length == 0 ? "the run" : $"run '{name}'");
                    string group = name.Length == 0 ? experiment.Name : name;
                    // Seeds expand last: each seed's run is the whole method again with that seed, named "<method> seed=N".
                    foreach (var seed in settings.Seeds ?? [settings.Seed])
                        runs.Add(new ExperimentRun(experiment.Name, settings.Seeds is null ? group : $"{group} seed={seed}",
                            settings with { Seed = seed, Seeds = null }, variantName, point, group, conditionName));
                }
        if (runs.Select(r => r.Name).Distinct().Count() != runs.Count)
            throw new ExperimentException($"{source}: two runs would have the same name; give variants distinct names");
        if (experiment.Reference is { } reference && !runs.Any(r => r.Variant == reference))
            throw new ExperimentException($"{source}: reference: '{reference}' is not the name of a variant ({string.Join(", ", runs.Select(r => $"'{r.Variant}'").Distinct())})");
        return runs;
    }

    /// <summary>Variants or conditions as (name, overrides); one unnamed entry without overrides when there are none.</summary>
    static List<(string Name, List<KeyValuePair<string, JsonElement>> Overrides)> Named(IReadOnlyList<Dictionary<string, JsonElement>> entries, string kind) =>
        entries.Count == 0 ? [("", [])]
            : entries.Select((e, i) => (e.TryGetValue("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : $"{kind}{i + 1}",
                e.Where(p => p.Key != "name").ToList())).ToList();

    static IEnumerable<List<KeyValuePair<string, JsonElement>>> Combinations(List<KeyValuePair<string, JsonElement[]>> sweep)
    {
        if (sweep.Count == 0) { yield return []; yield break; }
        foreach (var rest in Combinations(sweep.Skip(1).ToList()))
            foreach (var value in sweep[0].Value)
                yield return [new(sweep[0].Key, value), .. rest];
    }

    /// <summary>Settings with overrides at dotted paths ("localSteps", "data.alpha", "attack.type"), re-read strictly.</summary>
    static RunSettings Apply(RunSettings baseline, IEnumerable<KeyValuePair<string, JsonElement>> overrides, string source, string variant)
    {
        var node = JsonSerializer.SerializeToNode(baseline, Json)!.AsObject();
        foreach (var (path, value) in overrides)
        {
            var parts = path.Split('.');
            var target = node;
            foreach (var part in parts[..^1])
            {
                target[part] ??= new JsonObject();
                target = target[part] as JsonObject ?? throw new ExperimentException($"{source}: '{path}' goes through '{part}', which is not an object");
            }
            target[parts[^1]] = JsonNode.Parse(value.GetRawText());
        }
        try
        {
            return node.Deserialize<RunSettings>(Json)!;
        }
        catch (JsonException e)
        {
            throw new ExperimentException($"{source}: {(variant.Length > 0 ? $"variant '{variant}': " : "")}{Describe(e)}", e);
        }
    }

    static void Validate(RunSettings s, string source, string run)
    {
        var errors = new List<string>();
        void Require(bool ok, string message) { if (!ok) errors.Add(message); }
        Require(s.Clients >= 1, $"clients: must be at least 1, not {s.Clients}");
        Require(s.ClientsPerRound >= 1 && s.ClientsPerRound <= s.Clients, $"clientsPerRound: must be between 1 and clients ({s.Clients}), not {s.ClientsPerRound}");
        Require(s.Quorum is null || (s.Quorum >= 1 && s.Quorum <= s.ClientsPerRound), $"quorum: must be between 1 and clientsPerRound ({s.ClientsPerRound}), not {s.Quorum}");
        Require(s.Rounds >= 1, $"rounds: must be at least 1, not {s.Rounds}");
        Require(s.LocalSteps >= 1, $"localSteps: must be at least 1, not {s.LocalSteps}");
        Require(s.BatchSize >= 1, $"batchSize: must be at least 1, not {s.BatchSize}");
        Require(s.LearningRate > 0, $"learningRate: must be positive, not {s.LearningRate}");
        Require(s.Ranks.Length > 0 && s.Ranks.All(r => r >= 1), "ranks: at least one rank, each at least 1");
        Require(s.AlphaPerRank > 0, $"alphaPerRank: must be positive, not {s.AlphaPerRank}");
        Require(s.TargetModules.Length > 0 && s.TargetModules.All(LoraInjection.TargetNames.Contains),
            $"targetModules: one or more of {string.Join(", ", LoraInjection.TargetNames)}");
        bool known = FederatedStrategies.TryGet(s.Strategy, out var strategy);
        Require(known, $"strategy: '{s.Strategy}' is not one of {string.Join(", ", FederatedStrategies.Names)}");
        var rules = RobustRules.FederationNames;
        Require(s.Rule is null || rules.Contains(s.Rule), $"rule: '{s.Rule}' is not one of {string.Join(", ", rules)}");
        Require(s.PreAggregator is null || RobustRules.PreAggregatorNames.Contains(s.PreAggregator), $"preAggregator: '{s.PreAggregator}' is not one of {string.Join(", ", RobustRules.PreAggregatorNames)}");
        Require(s.PreAggregator is null || RobustRules.TakesPreAggregator(s.Rule),
            $"preAggregator: {s.PreAggregator} needs a Gram-based rule ({string.Join(", ", RobustRules.Names)}), not {s.Rule ?? "the plain mean"}");
        Require(!known || strategy.MixedRanks || s.Ranks.Distinct().Count() == 1, $"strategy: {s.Strategy} needs one rank for all clients, but ranks are [{string.Join(", ", s.Ranks)}]");
        // What each rule needs of the clients that answer; checked here so that no run fails round after round.
        int minimum = RobustRules.MinimumClients(s.Rule, s.ByzantineCount, s.PreAggregator);
        string rule = $"{s.Rule}{(s.PreAggregator is { } pre ? $" behind {pre}" : "")} with byzantineCount {s.ByzantineCount}";
        Require(s.ClientsPerRound >= minimum, $"rule: {rule} needs at least {minimum} clients per round, not {s.ClientsPerRound}");
        Require(s.Quorum is null || s.Quorum >= minimum, $"quorum: {rule} needs at least {minimum} updates a round, not a quorum of {s.Quorum}");
        Require(s.OutputRank is null or >= 1, $"outputRank: must be at least 1, not {s.OutputRank}");
        Require(s.GlobalEnergy is null or (> 0 and <= 1), $"globalEnergy: the fraction of each module's energy the global keeps must be in (0, 1], not {s.GlobalEnergy}");
        Require(s.GlobalEnergy is null || !known || strategy.StacksGlobal, $"globalEnergy: truncates a stacked global (flora, flexlora), not {s.Strategy}'s");
        Require(s.GlobalEnergy is null || s.Rule is null || !RobustRules.CoordinateWiseNames.Contains(s.Rule),
            $"globalEnergy: truncates a stacked global; {s.Rule}'s dense result is written at the clients' rank instead");
        Require(s.DropoutRate is >= 0 and < 1, $"dropoutRate: must be in [0, 1), not {s.DropoutRate}");
        Require(s.StragglerRate is >= 0 and < 1, $"stragglerRate: must be in [0, 1), not {s.StragglerRate}");
        Require(s.Seeds is null || (s.Seeds.Length >= 1 && s.Seeds.Distinct().Count() == s.Seeds.Length), "seeds: at least one seed, none twice");
        Require(s.Evaluation.TaskItems is >= 0 and <= 100_000, $"evaluation.taskItems: must be between 0 and 100000, not {s.Evaluation.TaskItems}");
        Require(s.Evaluation.TaskEveryRounds >= 0, $"evaluation.taskEveryRounds: must not be negative, not {s.Evaluation.TaskEveryRounds}");
        Require(s.Evaluation.LossEveryRounds >= 1, $"evaluation.lossEveryRounds: must be at least 1, not {s.Evaluation.LossEveryRounds}");
        Require(s.Evaluation.BatchSize is >= 1 and <= 1024, $"evaluation.batchSize: must be between 1 and 1024, not {s.Evaluation.BatchSize}");
        Require(s.Parallelism >= 1, $"parallelism: must be at least 1, not {s.Parallelism}");
        Require(s.Model.Directory is not null || s.Model.Preset is "tiny" or "small", $"model.preset: '{s.Model.Preset}' is not tiny or small");
        Require(s.Model.Directory is null || Directory.Exists(s.Model.Directory), $"model.directory: '{s.Model.Directory}' does not exist");
        Require(s.Model.PretrainSteps >= 0, $"model.pretrainSteps: must not be negative, not {s.Model.PretrainSteps}");
        Require(s.Model.ContextLength >= 8, $"model.contextLength: must be at least 8, not {s.Model.ContextLength}");
        Require(s.Data.Source != DataSource.Jsonl || File.Exists(s.Data.Path), $"data.path: a JSONL file is required for source jsonl ('{s.Data.Path}' does not exist)");
        Require(s.Data.Alpha > 0, $"data.alpha: must be positive, not {s.Data.Alpha}");
        Require(s.Data.MaxExamplesPerClient >= 1 && s.Data.EvalExamplesPerClient >= 1 && s.Data.GlobalEvalExamples >= 1,
            "data: maxExamplesPerClient, evalExamplesPerClient and globalEvalExamples must be at least 1");
        Require(s.Mode == TrainingMode.Federated || (s.Attack is null && s.DropoutRate == 0 && s.StragglerRate == 0),
            $"mode: {s.Mode.ToString().ToLowerInvariant()} training is a bound without attackers, dropouts or stragglers");
        if (s.Attack is { } a)
        {
            Require(ByzantineAttacks.Names.Contains(a.Type), $"attack.type: '{a.Type}' is not one of {string.Join(", ", ByzantineAttacks.Names)}");
            Require(a.Fraction is > 0 and < 1, $"attack.fraction: must be in (0, 1), not {a.Fraction}");
        }
        if (errors.Count > 0)
            throw new ExperimentException($"{source}: {run}: {string.Join("; ", errors)}");
    }

    static string Describe(JsonException e) =>
        $"{e.Message.Split(" Path:")[0].TrimEnd('.')}{(e.Path is { Length: > 0 } p ? $" (at {p})" : "")}";

    static string Compact(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
}
