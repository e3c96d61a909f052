using System.Text.Json;
using Federated.Cli;
using Federated.Coordinator.Tests.Api;

namespace Federated.Coordinator.Tests.Cli;

/// <summary><c>fed federation|round|client</c> against a running coordinator, through its HTTP API.</summary>
[Collection(CoordinatorCollection.Name)]
public sealed class FedRemoteCommandsTests(CoordinatorHost coordinator) : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-remote-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = FedCommandLine.Run([.. args, "--coordinator", coordinator.Address.ToString(), "--api-key", TestOperators.AdminKey], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    static string OneErrorLine(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("fed: ", lines[0]);
        return lines[0];
    }

    [Fact]
    public void Create_list_and_show_round_trip_a_federation()
    {
        string id = CoordinatorHost.NewId("cli");
        var created = Fed("federation", "create", id, "--base-model", "tiny-llama", "--base-model-dir", BaseModelDirectory.Tiny(_dir), "--target-modules", "q_proj,o_proj",
            "--strategy", "flexlora", "--rule", "multi-krum", "--f", "1", "--rounds", "7", "--clients-per-round", "6",
            "--quorum", "5", "--deadline", "20m", "--rank-policy", "fixed:8");
        Assert.True(created.Exit == 0, created.Err);
        Assert.Contains($"federation {id} created", created.Out);

        var list = Fed("federation", "list");
        Assert.True(list.Exit == 0, list.Err);
        var header = list.Out.Split('\n')[0];
        Assert.Matches(@"^ID\s+STATUS\s+ROUND\s+DONE\s+OF\s+STRATEGY\s+BASE MODEL$", header);
        var row = list.Out.Split('\n').Single(l => l.StartsWith(id + " ", StringComparison.Ordinal));
        Assert.Matches(@"Created\s+0\s+0\s+7\s+flexlora \+ multi-krum\s+tiny-llama$", row);
        // Aligned: every column starts where its header does.
        Assert.Equal(header.IndexOf("STATUS", StringComparison.Ordinal), row.IndexOf("Created", StringComparison.Ordinal));

        var show = Fed("federation", "show", id);
        Assert.True(show.Exit == 0, show.Err);
        Assert.Contains("target modules : q_proj, o_proj", show.Out);
        Assert.Contains("rank policy    : fixed 8", show.Out);
        Assert.Contains("per round      : 6 clients, quorum 5, deadline 00:20:00", show.Out);

        var json = Fed("federation", "show", id, "--json");
        Assert.True(json.Exit == 0, json.Err);
        var config = JsonDocument.Parse(json.Out).RootElement.GetProperty("config");
        Assert.Equal(7, config.GetProperty("rounds").GetInt32());
        Assert.Equal(1, config.GetProperty("aggregation").GetProperty("byzantineCount").GetInt32());
        Assert.Equal(0, config.GetProperty("rankPolicy").GetProperty("tiers").GetArrayLength());
    }

    [Fact]
    public void Create_from_a_config_file_lets_options_override_it()
    {
        string file = Path.Combine(_dir, "config.json");
        File.WriteAllText(file, """
            {"baseModel": "from-file", "rounds": 3, "aggregation": {"strategy": "zero-padding", "normCap": 50},
             "architecture": {"hiddenSize": 64, "numHiddenLayers": 2, "numAttentionHeads": 4, "numKeyValueHeads": 2, "intermediateSize": 176}}
            """);
        string id = CoordinatorHost.NewId("cli");
        var created = Fed("federation", "create", id, "--config", file, "--rounds", "5", "--strategy", "flora", "--global-energy", "0.95", "--json");
        Assert.True(created.Exit == 0, created.Err);
        var config = JsonDocument.Parse(created.Out).RootElement.GetProperty("config");
        Assert.Equal("from-file", config.GetProperty("baseModel").GetString());
        Assert.Equal(5, config.GetProperty("rounds").GetInt32());
        Assert.Equal("flora", config.GetProperty("aggregation").GetProperty("strategy").GetString());
        Assert.Equal(50, config.GetProperty("aggregation").GetProperty("normCap").GetDouble()); // kept from the file
        Assert.Equal(0.95, config.GetProperty("aggregation").GetProperty("globalEnergy").GetDouble());
    }

    [Fact]
    public void Create_with_a_base_model_directory_pins_its_architecture_and_a_history_compaction()
    {
        string model = BaseModelDirectory.Tiny(_dir);
        string id = CoordinatorHost.NewId("cli");
        var created = Fed("federation", "create", id, "--base-model-dir", model, "--strategy", "hetlora", "--history-every", "3", "--history-rank", "16", "--json");
        Assert.True(created.Exit == 0, created.Err);
        var config = JsonDocument.Parse(created.Out).RootElement.GetProperty("config");
        Assert.Equal("tiny-base", config.GetProperty("baseModel").GetString());
        var architecture = config.GetProperty("architecture");
        Assert.Equal((64, 2, 4, 2, 176), (architecture.GetProperty("hiddenSize").GetInt32(), architecture.GetProperty("numHiddenLayers").GetInt32(),
            architecture.GetProperty("numAttentionHeads").GetInt32(), architecture.GetProperty("numKeyValueHeads").GetInt32(), architecture.GetProperty("intermediateSize").GetInt32()));
        Assert.Equal(3, config.GetProperty("compaction").GetProperty("everyRounds").GetInt32());
        Assert.Equal(16, config.GetProperty("compaction").GetProperty("rank").GetInt32());

        Assert.Contains("--base-model-dir: no config.json", OneErrorLine(Fed("federation", "create", CoordinatorHost.NewId("cli"), "--base-model-dir", _dir).Err));
        Assert.Contains("architecture: required", OneErrorLine(Fed("federation", "create", CoordinatorHost.NewId("cli"), "--base-model", "m").Err));
    }

    [Fact]
    public void A_refused_create_prints_the_coordinators_reason_on_one_line_and_exits_1()
    {
        string id = CoordinatorHost.NewId("cli");
        string model = BaseModelDirectory.Tiny(_dir);
        Assert.Equal(0, Fed("federation", "create", id, "--base-model", "a", "--base-model-dir", model).Exit);
        var again = Fed("federation", "create", id, "--base-model", "b", "--base-model-dir", model);
        Assert.Equal(FedCommandLine.ExitFailure, again.Exit);
        Assert.Equal($"fed: error: federation '{id}' already exists with a different config", OneErrorLine(again.Err));

        var invalid = Fed("federation", "create", CoordinatorHost.NewId("cli"), "--base-model", "m", "--clients-per-round", "2", "--quorum", "3");
        Assert.Equal(FedCommandLine.ExitFailure, invalid.Exit);
        Assert.Contains("quorum: must be between 1 and clientsPerRound (2), not 3", OneErrorLine(invalid.Err));
    }

    [Fact]
    public void Unknown_federations_rounds_and_clients_are_one_line_errors()
    {
        Assert.Contains("no federation 'nope'", OneErrorLine(Fed("federation", "show", "nope").Err));
        Assert.Contains("no federation 'nope'", OneErrorLine(Fed("round", "show", "nope", "1").Err));
        Assert.Contains("not registered", OneErrorLine(Fed("client", "show", "nobody").Err));
        Assert.Contains("no federation 'nope'", OneErrorLine(Fed("adapter", "download", "nope", "--out", Path.Combine(_dir, "a")).Err));
        Assert.False(Directory.Exists(Path.Combine(_dir, "a")));
    }

    [Fact]
    public void A_bad_duration_is_refused_by_the_coordinator_with_the_field_path()
    {
        var r = Fed("federation", "create", CoordinatorHost.NewId("cli"), "--base-model", "m", "--deadline", "soon");
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        Assert.Contains("'soon' is not a duration", OneErrorLine(r.Err));
    }

    [Fact]
    public void An_unreachable_coordinator_is_one_line_that_says_so()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int port = CoordinatorHost.FreePort(); // nothing listens there once the probe closed it
        int exit = FedCommandLine.Run(["federation", "list", "--coordinator", $"http://127.0.0.1:{port}"], output, error);
        Assert.Equal(FedCommandLine.ExitFailure, exit);
        string line = OneErrorLine(error.ToString());
        Assert.Contains($"cannot reach the coordinator at http://127.0.0.1:{port}/", line);
    }

    [Fact]
    public void The_coordinator_address_defaults_to_FED_COORDINATOR()
    {
        var federation = FedCommandLine.Create().Subcommands.Single(c => c.Name == "federation");
        var option = federation.Options.Single(o => o.Name == "--coordinator");
        string? previous = Environment.GetEnvironmentVariable("FED_COORDINATOR");
        try
        {
            Environment.SetEnvironmentVariable("FED_COORDINATOR", "http://127.0.0.9:9000");
            var parse = FedCommandLine.Create().Parse(["federation", "list"]);
            Assert.Equal("http://127.0.0.9:9000", parse.GetValue<string>("--coordinator"));
            Environment.SetEnvironmentVariable("FED_COORDINATOR", null);
            parse = FedCommandLine.Create().Parse(["federation", "list"]);
            Assert.Equal("http://127.0.0.1:5080", parse.GetValue<string>("--coordinator"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("FED_COORDINATOR", previous);
        }
        Assert.True(option.Recursive);
    }
}
