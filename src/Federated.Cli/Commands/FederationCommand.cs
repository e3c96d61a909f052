using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Federated.Cli.Remote;
using Federated.Training;
using Federated.Training.Models;

namespace Federated.Cli.Commands;

/// <summary><c>fed federation create|list|show|start</c>: operate federations through the coordinator's admin API.</summary>
static class FederationCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var federation = new Command("federation", "Create, list, inspect and start federations on a coordinator")
        {
            CreateCreate(remote), CreateList(remote), CreateShow(remote), CreateStart(remote),
        };
        remote.AddTo(federation);
        return federation;
    }

    static Command CreateCreate(RemoteOptions remote)
    {
        var id = new Argument<string>("id") { Description = "Federation id: 1 to 64 letters, digits, '-', '_' or '.'" };
        var config = new Option<string?>("--config") { Description = "A JSON file holding the config (the API's \"config\" object); the options below override it" };
        var baseModel = new Option<string?>("--base-model") { Description = "The base model every participant holds (required unless in --config or --base-model-dir)" };
        var baseModelDir = new Option<string?>("--base-model-dir")
        {
            Description = "An HF model directory: its config.json pins every target module's shape (the federation's architecture), " +
                          "so uploads are checked against the base; also the base model's name unless --base-model gives one",
        };
        var modules = new Option<string?>("--target-modules") { Description = "PEFT target modules, comma-separated (default: q_proj,v_proj)" };
        var strategy = new Option<string?>("--strategy")
        {
            Description = "How updates combine across rounds (default: flora): " +
                          string.Join("; ", Federated.Core.Federation.FederatedStrategies.All.Select(s => $"{s.Name}: {s.Description}")),
        };
        var rule = new Option<string?>("--rule") { Description = "Robust rule, as in fed aggregate (default: none, the weighted mean)" };
        var pre = new Option<string?>("--pre") { Description = "bucketing or nnm before the rule" };
        var byzantine = new Option<int?>("--f") { Description = "Assumed Byzantine clients per round" };
        var normCap = new Option<double?>("--norm-cap") { Description = "Reject updates with ||dW||_F above this" };
        var globalEnergy = new Option<double?>("--global-energy")
        {
            Description = "flora, flexlora: truncate each module of a round's global by SVD to the smallest rank keeping this fraction of its energy, " +
                          "in (0, 1] (FLoRIST; the round shows the largest relative error); default: exact, at most rank min(d_out, d_in) a module",
        };
        var maxExamples = new Option<long?>("--max-examples") { Description = "A client's claimed example count counts at most this much in its weight (default: no cap)" };
        var weighting = new Option<string?>("--weighting")
        {
            Description = "examples (FedAvg: by claimed example counts) or equal (one client, one vote); default: equal under a robust rule, else examples",
        };
        weighting.AcceptOnlyFromAmong("examples", "equal");
        var rounds = new Option<int?>("--rounds") { Description = "Rounds to run (default: 10)" };
        var perRound = new Option<int?>("--clients-per-round") { Description = "Clients selected per round (default: 10)" };
        var quorum = new Option<int?>("--quorum") { Description = "Accepted updates a round needs at its deadline (default: 5)" };
        var deadline = new Option<string?>("--deadline") { Description = "How long a round stays open: 30m, 90s, 2h or 00:30:00 (default: 30m)" };
        var clientTimeout = new Option<string?>("--client-timeout") { Description = "Clients not heard from for this long are not selected (default: 5m)" };
        var rankPolicy = new Option<string?>("--rank-policy")
        {
            Description = "fixed:R (every client at rank R) or tiers (rank by GPU memory: 4 on CPU, 8/16/32/64 from 8/16/24/48 GiB; the default)",
            Validators = { r => { if (r.GetValueOrDefault<string?>() is { } v && RankPolicy(v) is null) r.AddError($"--rank-policy '{v}' is neither fixed:R (R a positive integer) nor tiers"); } },
        };
        var localSteps = new Option<int?>("--local-steps") { Description = "Local optimiser steps per round (default: 50)" };
        var learningRate = new Option<double?>("--learning-rate") { Description = "Local learning rate (default: 2e-4)" };
        var seed = new Option<long?>("--seed") { Description = "Seeds client selection and the shared initial adapter" };
        var historyEvery = new Option<int?>("--history-every") { Description = "Re-factor the merged history into one delta every N rounds (with --history-rank or --history-max-error)" };
        var historyRank = new Option<int?>("--history-rank") { Description = "The rank the history is re-factored to" };
        var historyError = new Option<double?>("--history-max-error") { Description = "Re-factor the history to the smallest vLLM rank within this relative error (default 0.01)" };

        var command = new Command("create", "Create a federation (fields not given take the coordinator's defaults)")
        {
            id, config, baseModel, baseModelDir, modules, strategy, rule, pre, byzantine, normCap, globalEnergy, maxExamples, weighting, rounds, perRound, quorum, deadline,
            clientTimeout, rankPolicy, localSteps, learningRate, seed, historyEvery, historyRank, historyError,
        };
        command.SetAction(async (parse, ct) =>
        {
            var body = parse.GetValue(config) is { } file ? ReadConfig(file) : [];
            if (parse.GetValue(baseModelDir) is { } dir)
            {
                body["architecture"] = Architecture(dir);
                Set(body, "baseModel", Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')));
            }
            Set(body, "baseModel", parse.GetValue(baseModel));
            if (parse.GetValue(modules) is { } m)
                body["targetModules"] = new JsonArray(m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => (JsonNode)s!).ToArray());
            if (parse.GetValue(rankPolicy) is { } rp)
                body["rankPolicy"] = RankPolicy(rp);
            var aggregation = Section(body, "aggregation");
            Set(aggregation, "strategy", parse.GetValue(strategy));
            Set(aggregation, "rule", parse.GetValue(rule));
            Set(aggregation, "preAggregator", parse.GetValue(pre));
            Set(aggregation, "byzantineCount", parse.GetValue(byzantine));
            Set(aggregation, "normCap", parse.GetValue(normCap));
            Set(aggregation, "globalEnergy", parse.GetValue(globalEnergy));
            Set(aggregation, "maxExampleCount", parse.GetValue(maxExamples));
            Set(aggregation, "weighting", parse.GetValue(weighting));
            var training = Section(body, "training");
            Set(training, "localSteps", parse.GetValue(localSteps));
            Set(training, "learningRate", parse.GetValue(learningRate));
            Set(body, "rounds", parse.GetValue(rounds));
            Set(body, "clientsPerRound", parse.GetValue(perRound));
            Set(body, "quorum", parse.GetValue(quorum));
            Set(body, "roundDeadline", parse.GetValue(deadline));
            Set(body, "clientTimeout", parse.GetValue(clientTimeout));
            Set(body, "seed", parse.GetValue(seed));
            if (parse.GetValue(historyEvery) is { } every)
                body["compaction"] = new JsonObject { ["everyRounds"] = every, ["rank"] = parse.GetValue(historyRank), ["maxError"] = parse.GetValue(historyError) };
            else if (parse.GetValue(historyRank) is not null || parse.GetValue(historyError) is not null)
                throw new ArgumentException("--history-rank and --history-max-error need --history-every");
            if (aggregation.Count == 0) body.Remove("aggregation");
            if (training.Count == 0) body.Remove("training");

            using var client = remote.Client(parse);
            var view = await client.PostAsync("api/federations", new JsonObject { ["id"] = parse.GetValue(id), ["config"] = body }, ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
                RemoteOptions.PrintJson(o, view);
            else
                o.WriteLine($"federation {view.Text("id")} created: {Summary(view)}");
            return FedCommandLine.ExitOk;
        });
        return command;
    }

    /// <summary>The architecture fields of an HF config.json (as the API's "architecture" object).</summary>
    static JsonObject Architecture(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) throw new ArgumentException($"--base-model-dir: no config.json in {directory}");
        LlamaConfig c;
        try { c = LlamaConfig.Read(path); }
        catch (ModelFormatException e) { throw new ArgumentException($"--base-model-dir: {e.Message}"); }
        var architecture = new JsonObject
        {
            ["hiddenSize"] = c.HiddenSize, ["numHiddenLayers"] = c.NumHiddenLayers, ["numAttentionHeads"] = c.NumAttentionHeads,
            ["numKeyValueHeads"] = c.KeyValueHeads, ["intermediateSize"] = c.IntermediateSize,
        };
        if (c.HeadDimOverride is { } headDim) architecture["headDim"] = headDim;
        return architecture;
    }

    static Command CreateList(RemoteOptions remote)
    {
        var command = new Command("list", "List the coordinator's federations");
        command.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var list = await client.GetAsync("api/federations", ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
            {
                RemoteOptions.PrintJson(o, list);
                return FedCommandLine.ExitOk;
            }
            if (list.GetArrayLength() == 0)
            {
                o.WriteLine("no federations (create one with 'fed federation create ID --base-model M')");
                return FedCommandLine.ExitOk;
            }
            var table = new TextTable("ID", "STATUS", "ROUND", "DONE", "OF", "STRATEGY", "BASE MODEL");
            foreach (var f in list.EnumerateArray())
            {
                var c = f.Field("config") ?? default;
                table.Add(f.Text("id"), f.Text("status"), f.Text("currentRound"), f.Text("completedRounds"), c.Text("rounds"),
                    Strategy(c), c.Text("baseModel"));
            }
            table.Write(o);
            return FedCommandLine.ExitOk;
        });
        return command;
    }

    static Command CreateShow(RemoteOptions remote)
    {
        var id = new Argument<string>("id") { Description = "Federation id" };
        var command = new Command("show", "Show a federation: config, progress and its rounds") { id };
        command.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var view = await client.GetAsync($"api/federations/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
                RemoteOptions.PrintJson(o, view);
            else
                WriteFederation(o, view);
            return FedCommandLine.ExitOk;
        });
        return command;
    }

    static Command CreateStart(RemoteOptions remote)
    {
        var id = new Argument<string>("id") { Description = "Federation id" };
        var command = new Command("start", "Open a federation's first round (needs enough registered clients for a quorum)") { id };
        command.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var view = await client.PostAsync($"api/federations/{Uri.EscapeDataString(parse.GetValue(id)!)}/start", null, ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
                RemoteOptions.PrintJson(o, view);
            else
                o.WriteLine($"federation {view.Text("id")} {view.Text("status").ToLowerInvariant()}: round {view.Text("currentRound")} of {(view.Field("config") ?? default).Text("rounds")}");
            return FedCommandLine.ExitOk;
        });
        return command;
    }

    static void WriteFederation(TextWriter o, JsonElement f)
    {
        var c = f.Field("config") ?? default;
        var rp = c.Field("rankPolicy") ?? default;
        var tiers = rp.Items("tiers").Select(t => $">= {t.Field("minGpuMemoryBytes")?.GetInt64() / (1L << 30)} GiB: {t.Text("rank")}").ToList();
        o.WriteLine($"id             : {f.Text("id")}");
        o.WriteLine($"status         : {f.Text("status")}{(f.Field("failureReason") is not null ? $" ({f.Text("failureReason")})" : "")}");
        o.WriteLine($"base model     : {c.Text("baseModel")}");
        o.WriteLine($"target modules : {c.Text("targetModules")}");
        o.WriteLine($"aggregation    : {Strategy(c)}");
        o.WriteLine($"rank policy    : {(tiers.Count == 0 ? $"fixed {rp.Text("cpuRank")}" : $"cpu {rp.Text("cpuRank")}; {string.Join("; ", tiers)}")}, alpha = {rp.Text("alphaPerRank")} x rank");
        o.WriteLine($"rounds         : {f.Text("completedRounds")} of {c.Text("rounds")} completed, current {f.Text("currentRound")}");
        o.WriteLine($"per round      : {c.Text("clientsPerRound")} clients, quorum {c.Text("quorum")}, deadline {c.Text("roundDeadline")}");
        o.WriteLine($"global adapter : {f.Stored("globalAdapter")}");
        o.WriteLine($"created        : {f.Text("createdAt")}");
        var history = f.Items("history").ToList();
        if (history.Count == 0)
            return;
        o.WriteLine();
        var table = new TextTable("ROUND", "STATUS", "SELECTED", "ACCEPTED", "REJECTED", "GLOBAL ADAPTER", "FAILURE");
        foreach (var r in history)
            table.Add(r.Text("round"), r.Text("status"), r.Text("selected"), r.Text("accepted"), r.Text("rejected"), r.Stored("globalAdapter"), r.Text("failureReason"));
        table.Write(o);
    }

    static string Summary(JsonElement f)
    {
        var c = f.Field("config") ?? default;
        return $"{c.Text("baseModel")}, {Strategy(c)}, {c.Text("rounds")} rounds of {c.Text("clientsPerRound")} clients, quorum {c.Text("quorum")}, status {f.Text("status")}";
    }

    static string Strategy(JsonElement config)
    {
        var a = config.Field("aggregation") ?? default;
        string rule = a.Field("rule") is null ? "" : $" + {a.Text("rule")}{(a.Field("preAggregator") is null ? "" : $" after {a.Text("preAggregator")}")}";
        return a.Text("strategy") + rule;
    }

    static JsonObject? RankPolicy(string value)
    {
        if (value == "tiers")
            return new JsonObject { ["cpuRank"] = 4 }; // the default tiers, CPU clients at 4
        if (value.StartsWith("fixed:", StringComparison.Ordinal) && int.TryParse(value["fixed:".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int rank) && rank > 0)
            return new JsonObject { ["cpuRank"] = rank, ["tiers"] = new JsonArray() };
        return null;
    }

    static JsonObject ReadConfig(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new ArgumentException($"{path}: expected a JSON object (the federation config)");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: malformed JSON: {e.Message}", e);
        }
    }

    static JsonObject Section(JsonObject parent, string name)
    {
        if (parent[name] is JsonObject section)
            return section;
        var created = new JsonObject();
        parent[name] = created;
        return created;
    }

    // Options not given leave the field to --config or the coordinator's default.
    static void Set(JsonObject target, string name, JsonNode? value)
    {
        if (value is not null)
            target[name] = value;
    }
}
