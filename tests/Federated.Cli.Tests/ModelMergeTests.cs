using System.Text.Json.Nodes;
using Federated.Cli;
using Federated.Core.Adapters;
using Federated.Core.Export;
using Federated.Core.Formats.Peft;
using Federated.Training.Lora;
using Federated.Training.Models;

namespace Federated.Cli.Tests;

public sealed class ModelMergeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-merge-").FullName;

    public ModelMergeTests()
    {
        var r = Fed("model", "init", "--preset", "tiny", "--seed", "3", "--out", Base);
        Assert.True(r.Exit == 0, r.Err);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Base => Path.Combine(_dir, "base");

    static (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        return (FedCommandLine.Run(args, output, error), output.ToString(), error.ToString());
    }

    /// <summary>A random adapter on the tiny model's layers of the given targets, large enough to move the logits.</summary>
    LoraAdapter Adapter(string[] targets, int rank, long seed, bool useRsLora = false)
    {
        using var model = HfCheckpoint.Load(Base);
        var shapes = model.Projections().Where(p => targets.Contains(p.Name[(p.Name.LastIndexOf('.') + 1)..]))
            .Select(p => new ModuleShape(p.Name, (int)p.Layer.InFeatures, (int)p.Layer.OutFeatures)).ToList();
        return RandomAdapters.Create(shapes, rank, alpha: 2 * rank, seed, useRsLora: useRsLora, bStd: 0.2);
    }

    string Save(LoraAdapter adapter, string name)
    {
        string dir = Path.Combine(_dir, name);
        PeftAdapterDirectory.Write(adapter, dir);
        return dir;
    }

    static Tensor Logits(LlamaForCausalLM model)
    {
        using var _ = no_grad();
        using var ids = tensor(new long[] { 256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100 }).unsqueeze(0);
        return model.forward(ids);
    }

    /// <summary>The base's logits with <paramref name="adapter"/> attached as LoRA branches, unmerged.</summary>
    Tensor BranchLogits(LoraAdapter adapter)
    {
        using var model = HfCheckpoint.Load(Base);
        LoraInjection.Import(model, adapter);
        return Logits(model);
    }

    Tensor MergedLogits(string dir)
    {
        using var model = HfCheckpoint.Load(dir);
        return Logits(model);
    }

    [Fact]
    public void A_merged_checkpoint_gives_the_logits_of_the_base_with_the_adapter_attached()
    {
        using var adapter = Adapter(["q_proj", "v_proj", "down_proj"], rank: 4, seed: 1);
        string merged = Path.Combine(_dir, "merged");
        var r = Fed("model", "merge", "--model", Base, "--adapter", Save(adapter, "a1"), "--out", merged);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("merged 1 adapter(s)", r.Out);

        using var expected = BranchLogits(adapter);
        using var actual = MergedLogits(merged);
        using var baseLogits = MergedLogits(Base);
        Assert.True(TensorAssert.RelativeError(baseLogits, expected) > 1e-2, "the adapter should change the logits");
        Assert.True((actual - expected).abs().max().item<float>() < 1e-4);
        Assert.True(File.Exists(Path.Combine(merged, "tokenizer.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(Base, "config.json")), File.ReadAllText(Path.Combine(merged, "config.json")));
        Assert.Empty(Directory.GetDirectories(_dir, ".merged*")); // the staging directory was renamed into place
    }

    [Fact]
    public void Two_merged_adapters_give_the_logits_of_both_attached_at_once()
    {
        // Different ranks, targets and scaling; attached together as their exact cumulative export.
        using var first = Adapter(["q_proj", "v_proj"], rank: 4, seed: 2);
        using var second = Adapter(["v_proj", "o_proj"], rank: 8, seed: 3, useRsLora: true);
        string merged = Path.Combine(_dir, "merged");
        var r = Fed("model", "merge", "--model", Base, "--adapter", Save(first, "a1"), "--adapter", Save(second, "a2"), "--out", merged);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("merged 2 adapter(s)", r.Out);

        using var both = CumulativeExport.Exact([first, second]);
        using var expected = BranchLogits(both);
        using var actual = MergedLogits(merged);
        Assert.True((actual - expected).abs().max().item<float>() < 1e-4);
    }

    [Fact]
    public void A_sharded_merge_loads_back_identically_to_a_single_file_one()
    {
        using var adapter = Adapter(["q_proj", "v_proj"], rank: 4, seed: 4);
        string adapterDir = Save(adapter, "a1"), single = Path.Combine(_dir, "single"), sharded = Path.Combine(_dir, "sharded");
        Assert.Equal(0, Fed("model", "merge", "--model", Base, "--adapter", adapterDir, "--out", single).Exit);
        var r = Fed("model", "merge", "--model", Base, "--adapter", adapterDir, "--out", sharded, "--max-shard-size", "40KB");
        Assert.True(r.Exit == 0, r.Err);

        var shards = Directory.GetFiles(sharded, "model-*.safetensors").Select(f => Path.GetFileName(f)).Order().ToList();
        Assert.True(shards.Count > 1, $"{shards.Count} shard(s)");
        Assert.Equal($"model-00001-of-{shards.Count:D5}.safetensors", shards[0]);
        Assert.False(File.Exists(Path.Combine(sharded, HfCheckpoint.WeightsFileName)));
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(sharded, HfCheckpoint.IndexFileName)))!;
        Assert.Equal(shards.ToHashSet(), index["weight_map"]!.AsObject().Select(e => (string)e.Value!).ToHashSet());

        using var a = HfCheckpoint.Load(single);
        using var b = HfCheckpoint.Load(sharded);
        Assert.Equal(a.parameters().Sum(p => p.numel()) * sizeof(float), (long)index["metadata"]!["total_size"]!);
        var parameters = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in a.named_parameters())
            Assert.True(p.bytes.SequenceEqual(parameters[name].bytes), name);
    }

    [Fact]
    public void A_bf16_base_is_merged_in_float32_and_stored_as_bf16()
    {
        string bf16 = Path.Combine(_dir, "bf16");
        Assert.Equal(0, Fed("model", "init", "--preset", "tiny", "--seed", "3", "--dtype", "bfloat16", "--out", bf16).Exit);
        using var adapter = Adapter(["q_proj"], rank: 4, seed: 5);
        string merged = Path.Combine(_dir, "merged");
        var r = Fed("model", "merge", "--model", bf16, "--adapter", Save(adapter, "a1"), "--out", merged);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("(bfloat16)", r.Out);
        Assert.Equal(ScalarType.BFloat16, HfCheckpoint.StoredDType(merged));
    }

    [Fact]
    public void An_adapter_for_another_model_is_one_readable_line_and_leaves_no_output()
    {
        using var other = RandomAdapters.Create([new ModuleShape("model.layers.0.self_attn.q_proj", 128, 128)], rank: 2, alpha: 4, seed: 6);
        string merged = Path.Combine(_dir, "merged");
        var r = Fed("model", "merge", "--model", Base, "--adapter", Save(other, "other"), "--out", merged);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        Assert.StartsWith("fed: error: module 'model.layers.0.self_attn.q_proj' is 128x128", Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(Directory.Exists(merged));
    }

    [Fact]
    public void A_non_empty_output_directory_is_refused()
    {
        using var adapter = Adapter(["q_proj"], rank: 2, seed: 7);
        var r = Fed("model", "merge", "--model", Base, "--adapter", Save(adapter, "a1"), "--out", Base);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        Assert.Contains("is the base model's", r.Err);
        string taken = Path.Combine(_dir, "taken");
        Directory.CreateDirectory(taken);
        File.WriteAllText(Path.Combine(taken, "keep.txt"), "mine");
        r = Fed("model", "merge", "--model", Base, "--adapter", Path.Combine(_dir, "a1"), "--out", taken);
        Assert.Equal("fed: error: the output directory '" + taken + "' already exists and is not empty", r.Err.Trim());
    }

    [Fact]
    public void A_malformed_shard_size_is_a_usage_error()
    {
        var r = Fed("model", "merge", "--model", Base, "--adapter", "x", "--out", "y", "--max-shard-size", "lots");
        Assert.Equal(FedCommandLine.ExitUsage, r.Exit);
        Assert.Contains("'lots' is not a size", r.Err);
    }
}
