using System.Diagnostics;
using Federated.Cli;
using Federated.Core.Aggregation;
using Federated.Core.Formats.Peft;

namespace Federated.Cli.Tests;

public sealed class FedCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = FedCommandLine.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    string Random(string name, int rank, int seed, string modules = "q_proj,v_proj", int layers = 2)
    {
        string path = Path.Combine(_dir, name);
        var r = Fed("adapters", "random", "--rank", rank.ToString(), "--modules", modules, "--hidden", "32",
            "--layers", layers.ToString(), "--seed", seed.ToString(), "--out", path);
        Assert.True(r.Exit == 0, r.Err);
        return path;
    }

    static void AssertOneLineError(string stderr, string expected)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("fed: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void Aggregate_flora_writes_a_peft_adapter_whose_delta_is_the_weighted_sum()
    {
        string a = Random("a", 4, 1), b = Random("b", 8, 2), c = Random("c", 2, 3);
        string global = Path.Combine(_dir, "global");
        var r = Fed("aggregate", "--strategy", "flora", "--weights", "100,300,600", "--out", global, a, b, c);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("flora (exact)", r.Out);

        var updates = new[] { a, b, c }.Select(PeftAdapterDirectory.Read).ToList();
        using var result = PeftAdapterDirectory.Read(global);
        double[] p = [0.1, 0.3, 0.6];
        foreach (var m in result.Modules)
        {
            Assert.Equal(14, m.Rank);
            using var expected = TensorAssert.WeightedDeltaSum(updates, p, m.Name);
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
        foreach (var u in updates) u.Dispose();
    }

    [Fact]
    public void Random_adapters_have_the_requested_rank_modules_and_alpha()
    {
        using var adapter = PeftAdapterDirectory.Read(Random("r", 6, 9, modules: "q_proj,k_proj,down_proj", layers: 3));
        Assert.Equal(9, adapter.Modules.Count);
        Assert.All(adapter.Modules, m => { Assert.Equal(6, m.Rank); Assert.Equal(12, m.Alpha); });
        Assert.Equal(["down_proj", "k_proj", "q_proj"], adapter.TargetModules);
        Assert.Equal(128, adapter["model.layers.0.mlp.down_proj"].InFeatures); // 4 x hidden
    }

    [Fact]
    public void Inspect_prints_modules_ranks_and_norms()
    {
        string a = Random("a", 4, 1);
        var r = Fed("inspect", a);
        Assert.Equal(0, r.Exit);
        Assert.Contains("model.layers.1.self_attn.v_proj", r.Out);
        Assert.Contains("ranks 4", r.Out);
        Assert.Contains("||dW||_F", r.Out);
    }

    [Fact]
    public void Missing_adapter_directory_exits_non_zero_with_one_line()
    {
        string a = Random("a", 4, 1);
        var r = Fed("aggregate", "--strategy", "flora", "--out", Path.Combine(_dir, "g"), a, Path.Combine(_dir, "nope"));
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        AssertOneLineError(r.Err, "nope");
    }

    [Fact]
    public void Mismatched_module_sets_exit_non_zero_with_one_line()
    {
        string a = Random("a", 4, 1), b = Random("b", 4, 2, modules: "q_proj,k_proj");
        var r = Fed("aggregate", "--strategy", "flora", "--out", Path.Combine(_dir, "g"), a, b);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        AssertOneLineError(r.Err, "different modules");
        Assert.False(Directory.Exists(Path.Combine(_dir, "g")));
    }

    [Fact]
    public void FedIt_with_mixed_ranks_exits_non_zero_with_one_line()
    {
        string a = Random("a", 4, 1), b = Random("b", 8, 2);
        var r = Fed("aggregate", "--strategy", "fedit", "--out", Path.Combine(_dir, "g"), a, b);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        AssertOneLineError(r.Err, "same rank");
    }

    [Theory]
    [InlineData("--strategy", "fedavg")]
    [InlineData("--weights", "1,2,3")]
    [InlineData("--weights", "1,x")]
    public void Bad_options_exit_non_zero_with_one_line(string option, string value)
    {
        string a = Random("a", 4, 1), b = Random("b", 4, 2);
        string[] args = option == "--strategy"
            ? ["aggregate", option, value, "--out", Path.Combine(_dir, "g"), a, b]
            : ["aggregate", "--strategy", "flora", option, value, "--out", Path.Combine(_dir, "g"), a, b];
        var r = Fed(args);
        Assert.NotEqual(0, r.Exit);
        AssertOneLineError(r.Err, option == "--strategy" ? "fedavg" : "--weights");
    }

    [Fact]
    public void Output_directory_may_not_be_an_input()
    {
        string a = Random("a", 4, 1), b = Random("b", 4, 2);
        var r = Fed("aggregate", "--strategy", "flora", "--out", a, a, b);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        AssertOneLineError(r.Err, "is one of the inputs");
    }

    [Fact]
    public void The_fed_executable_exits_non_zero_with_one_stderr_line_on_bad_input()
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "fed.dll"), "inspect", Path.Combine(_dir, "missing")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(psi)!;
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(FedCommandLine.ExitFailure, process.ExitCode);
        AssertOneLineError(stderr, "missing");
    }

    [Fact]
    public void Aggregate_with_a_rule_writes_a_json_report_of_coefficients_and_rejections()
    {
        var clients = Enumerable.Range(0, 5).Select(k => Random($"c{k}", 4 << (k % 2), k)).ToList();
        string bad = Random("too-big", 32, 9);
        string global = Path.Combine(_dir, "global");
        var r = Fed(["aggregate", "--rule", "multi-krum", "--f", "1", "--max-rank", "16", "--skip-rejected", "--out", global, .. clients, bad]);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("flora (exact) + multi-krum: 5 of 6 adapters", r.Out);

        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(global, "aggregation_report.json")));
        var report = json.RootElement;
        Assert.Equal("multi-krum", report.GetProperty("rule").GetString());
        var outcomes = report.GetProperty("clients").EnumerateArray().ToList();
        Assert.Equal(6, outcomes.Count);
        var rejected = outcomes.Single(c => !c.GetProperty("accepted").GetBoolean());
        Assert.Equal(bad, rejected.GetProperty("clientId").GetString());
        Assert.Equal("rank-above-allowed", rejected.GetProperty("rejection").GetString());
        var coefficients = outcomes.Where(c => c.GetProperty("accepted").GetBoolean()).Select(c => c.GetProperty("coefficient").GetDouble()).ToList();
        Assert.Equal(1, coefficients.Count(c => c == 0)); // multi-krum keeps n - f = 4 of the 5
        Assert.Equal(1.0, coefficients.Sum(), 9);
    }

    [Fact]
    public void A_rejected_update_fails_aggregation_unless_skipping_is_asked_for()
    {
        string a = Random("a", 4, 1), b = Random("b", 4, 2), big = Random("big", 32, 3);
        var r = Fed("aggregate", "--max-rank", "16", "--out", Path.Combine(_dir, "g"), a, b, big);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        AssertOneLineError(r.Err, "above the assigned rank 16");
    }

    [Fact]
    public void An_unknown_rule_is_a_usage_error()
    {
        string a = Random("a", 4, 1);
        var r = Fed("aggregate", "--rule", "median-of-means", "--out", Path.Combine(_dir, "g"), a);
        Assert.Equal(FedCommandLine.ExitUsage, r.Exit);
        AssertOneLineError(r.Err, "median-of-means");
    }

    [Theory]
    [InlineData("median", "0")]
    [InlineData("trimmed-mean", "1")]
    [InlineData("bulyan", "1")]
    public void Coordinate_wise_rules_run_from_the_cli_at_the_client_rank_or_exactly_and_refuse_oversized_inputs(string rule, string f)
    {
        var clients = Enumerable.Range(0, 7).Select(k => Random($"c{k}", 4, k)).ToList();
        var ok = Fed(["aggregate", "--rule", rule, "--f", f, "--out", Path.Combine(_dir, "g"), .. clients]);
        Assert.True(ok.Exit == 0, ok.Err);
        Assert.Contains($"+ {rule}", ok.Out);
        Assert.Contains("dense result written at rank 4: largest relative Frobenius error", ok.Out);
        using (var global = PeftAdapterDirectory.Read(Path.Combine(_dir, "g")))
            Assert.All(global.Modules, m => Assert.Equal(4, m.Rank));
        Assert.Contains("\"relativeError\"", File.ReadAllText(Path.Combine(_dir, "g", "aggregation_report.json")));

        var exact = Fed(["aggregate", "--rule", rule, "--f", f, "--dense-rank", "0", "--out", Path.Combine(_dir, "e"), .. clients]);
        Assert.True(exact.Exit == 0, exact.Err);
        Assert.Contains("dense result written exactly", exact.Out);
        using (var global = PeftAdapterDirectory.Read(Path.Combine(_dir, "e")))
            Assert.All(global.Modules, m => Assert.Equal(Math.Min(m.InFeatures, m.OutFeatures), m.Rank));

        var refused = Fed(["aggregate", "--rule", rule, "--f", f, "--max-dense-bytes", "100", "--out", Path.Combine(_dir, "h"), .. clients]);
        Assert.Equal(FedCommandLine.ExitFailure, refused.Exit);
        AssertOneLineError(refused.Err, "above the 100-byte limit");
    }

    [Fact]
    public void Aggregate_flora_with_an_energy_threshold_truncates_each_module_and_reports_its_rank_and_error()
    {
        var clients = Enumerable.Range(0, 3).Select(k => Random($"c{k}", 8, 20 + k)).ToList(); // R = 24 within 32 x 32
        string global = Path.Combine(_dir, "g");
        var r = Fed(["aggregate", "--global-energy", "0.5", "--out", global, .. clients]);
        Assert.True(r.Exit == 0, r.Err);
        Assert.DoesNotContain("(exact)", r.Out);
        Assert.Contains("stack truncated by energy to rank", r.Out);

        var updates = clients.Select(PeftAdapterDirectory.Read).ToList();
        using var result = PeftAdapterDirectory.Read(global);
        using var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(global, "aggregation_report.json")));
        var factoring = report.RootElement.GetProperty("factoring").EnumerateArray().ToDictionary(f => f.GetProperty("module").GetString()!);
        double third = 1.0 / 3;
        foreach (var m in result.Modules)
        {
            Assert.True(m.Rank < 24, $"{m.Name}: rank {m.Rank}");
            Assert.Equal(m.Rank, factoring[m.Name].GetProperty("rank").GetInt32());
            using var expected = TensorAssert.WeightedDeltaSum(updates, [third, third, third], m.Name);
            using var actual = m.DenseDelta(float64);
            double error = TensorAssert.RelativeError(actual, expected);
            Assert.Equal(error, factoring[m.Name].GetProperty("relativeError").GetDouble(), 1e-4);
            Assert.True(error <= Math.Sqrt(0.5) + 1e-6);
        }
        foreach (var u in updates) u.Dispose();

        var refused = Fed(["aggregate", "--global-energy", "2", "--out", Path.Combine(_dir, "h"), .. clients]);
        Assert.NotEqual(0, refused.Exit);
        AssertOneLineError(refused.Err, "the global's energy threshold must be in (0, 1], got 2");
    }

    [Fact]
    public void Aggregate_flora_past_a_modules_dimensions_writes_it_exactly_at_rank_min_d()
    {
        var clients = Enumerable.Range(0, 5).Select(k => Random($"c{k}", 8, 30 + k)).ToList(); // R = 40 past 32 x 32
        string global = Path.Combine(_dir, "g");
        var r = Fed(["aggregate", "--out", global, .. clients]);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("flora (exact)", r.Out);
        Assert.Contains("stacked past min(d_out, d_in) written exactly at rank", r.Out);

        var updates = clients.Select(PeftAdapterDirectory.Read).ToList();
        using var result = PeftAdapterDirectory.Read(global);
        foreach (var m in result.Modules)
        {
            Assert.Equal(Math.Min(40, Math.Min(m.InFeatures, m.OutFeatures)), m.Rank);
            using var expected = TensorAssert.WeightedDeltaSum(updates, Enumerable.Repeat(0.2, 5).ToArray(), m.Name);
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
        foreach (var u in updates) u.Dispose();
    }

    [Theory]
    [InlineData("int8")]
    [InlineData("topk")]
    [InlineData("ternary")]
    public void Compressed_uploads_aggregate_to_exactly_what_their_decompression_gives(string scheme)
    {
        var sources = new[] { Random("a", 4, 1), Random("b", 8, 2), Random("c", 2, 3) };
        var uploads = sources.Select(dir =>
        {
            string file = Path.Combine(_dir, "uploads", Path.GetFileName(dir), Federated.Core.Compression.CompressedAdapterFile.FileName);
            var r = Fed("adapters", "compress", "--scheme", scheme, "--out", file, dir);
            Assert.True(r.Exit == 0, r.Err);
            Assert.Contains("ratio", r.Out);
            return file;
        }).ToList();

        string global = Path.Combine(_dir, "global");
        var aggregated = Fed(["aggregate", "--weights", "100,300,600", "--out", global, .. uploads]);
        Assert.True(aggregated.Exit == 0, aggregated.Err);

        var decompressed = uploads.Select(u => { using var c = Federated.Core.Compression.CompressedAdapterFile.Read(u); return c.Decompress(); }).ToList();
        using var expected = new FloraStacking().Aggregate(decompressed, [0.1, 0.3, 0.6]);
        using var actual = PeftAdapterDirectory.Read(global);
        foreach (var m in expected.Modules)
        {
            Assert.True(actual[m.Name].A.eq(m.A).all().item<bool>());
            Assert.True(actual[m.Name].B.eq(m.B).all().item<bool>());
        }
        foreach (var d in decompressed) d.Dispose();
    }

    [Fact]
    public void Compress_with_a_kept_fraction_outside_zero_to_one_is_one_error_line()
    {
        string source = Random("a", 4, 1);
        var r = Fed("adapters", "compress", "--scheme", "topk", "--fraction", "1.5", "--out", Path.Combine(_dir, "up.safetensors"), source);
        Assert.NotEqual(0, r.Exit);
        AssertOneLineError(r.Err, "the kept fraction for topk must be in (0, 1], not 1.5");
    }
}
