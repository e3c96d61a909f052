using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats.Peft;
using Federated.Core.Formats.Safetensors;

namespace Federated.Core.Tests.Formats;

public sealed class PeftAdapterDirectoryTests : IDisposable
{
    const string Q0 = "model.layers.0.self_attn.q_proj";
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Round_trip_is_bit_exact_and_keeps_module_order(ScalarType dtype)
    {
        // Deliberately not in name order: the file sorts tensors by name, the adapter must not.
        using var adapter = new LoraAdapter(
        [
            Module("model.layers.10.self_attn.q_proj", 8, 16, dtype, seed: 1),
            Module(Q0, 8, 16, dtype, seed: 2),
            Module("model.layers.0.self_attn.v_proj", 8, 16, dtype, seed: 3),
            Module("model.layers.2.mlp.down_proj", 8, 16, dtype, seed: 4),
        ], baseModel: "meta-llama/Llama-3.2-1B");

        PeftAdapterDirectory.Write(adapter, _dir.Path);
        using var read = PeftAdapterDirectory.Read(_dir.Path);

        AssertSameAdapter(adapter, read);
    }

    [Fact]
    public void Mixed_ranks_and_alphas_round_trip_through_rank_and_alpha_patterns()
    {
        using var adapter = new LoraAdapter(
        [
            Module(Q0, 8, 16),
            Module("model.layers.0.self_attn.k_proj", 8, 16),
            Module("model.layers.0.self_attn.v_proj", 4, 8),
            Module("model.layers.0.self_attn.o_proj", 8, 16),
            Module("model.layers.1.self_attn.q_proj", 16, 16),
            Module("model.layers.1.mlp.down_proj", 8, 32.5),
        ], baseModel: "meta-llama/Llama-3.2-1B");

        PeftAdapterDirectory.Write(adapter, _dir.Path);
        using var config = ConfigJson(_dir.Path);
        using var read = PeftAdapterDirectory.Read(_dir.Path);

        var root = config.RootElement;
        Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        Assert.Equal("meta-llama/Llama-3.2-1B", root.GetProperty("base_model_name_or_path").GetString());
        Assert.Equal("8", root.GetProperty("r").GetRawText());
        Assert.Equal("16", root.GetProperty("lora_alpha").GetRawText()); // an integer, as PEFT writes it
        Assert.Equal(
            """{"model.layers.0.self_attn.v_proj":4,"model.layers.1.self_attn.q_proj":16}""",
            Compact(root.GetProperty("rank_pattern")));
        Assert.Equal(
            """{"model.layers.0.self_attn.v_proj":8,"model.layers.1.mlp.down_proj":32.5}""",
            Compact(root.GetProperty("alpha_pattern")));
        Assert.Equal(["down_proj", "k_proj", "o_proj", "q_proj", "v_proj"],
            root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        Assert.False(root.GetProperty("use_rslora").GetBoolean());
        Assert.Equal("none", root.GetProperty("bias").GetString());
        Assert.True(root.GetProperty("inference_mode").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("modules_to_save").ValueKind);
        AssertSameAdapter(adapter, read);
    }

    [Fact]
    public void RsLora_flag_round_trips()
    {
        using var adapter = new LoraAdapter([Module(Q0, 4, 8, useRsLora: true), Module("model.layers.1.self_attn.q_proj", 16, 8, useRsLora: true)]);

        PeftAdapterDirectory.Write(adapter, _dir.Path);
        using var config = ConfigJson(_dir.Path);
        using var read = PeftAdapterDirectory.Read(_dir.Path);

        Assert.True(config.RootElement.GetProperty("use_rslora").GetBoolean());
        Assert.True(read.UseRsLora);
        Assert.Equal(adapter.Modules.Select(m => m.Scale), read.Modules.Select(m => m.Scale));
    }

    [Fact]
    public void Weights_use_peft_key_names()
    {
        using var adapter = new LoraAdapter([Module(Q0, 4, 8)]);

        PeftAdapterDirectory.Write(adapter, _dir.Path);
        using var file = SafetensorsReader.Read(Path.Combine(_dir.Path, "adapter_model.safetensors"));

        Assert.Equal(
            ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"],
            file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal([4L, 16L], file["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].shape);
        Assert.Equal([12L, 4L], file["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"].shape);
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void Reads_an_adapter_written_by_python_peft_and_preserves_unknown_fields_on_rewrite()
    {
        const string config = """
            {
              "alpha_pattern": {
                "q_proj": 32
              },
              "auto_mapping": null,
              "base_model_name_or_path": "meta-llama/Llama-3.2-1B",
              "bias": "none",
              "fan_in_fan_out": false,
              "inference_mode": true,
              "init_lora_weights": true,
              "layer_replication": null,
              "layers_pattern": null,
              "layers_to_transform": null,
              "loftq_config": {},
              "lora_alpha": 16,
              "lora_dropout": 0.05,
              "megatron_config": null,
              "megatron_core": "megatron.core",
              "modules_to_save": null,
              "peft_type": "LORA",
              "r": 8,
              "rank_pattern": {
                "layers.1.self_attn.v_proj": 4
              },
              "revision": null,
              "target_modules": [
                "v_proj",
                "q_proj"
              ],
              "task_type": "CAUSAL_LM",
              "use_dora": false,
              "use_rslora": false
            }
            """;
        var source = Path.Combine(_dir.Path, "python");
        var modules = new[] { 10, 2, 1, 0 }
            .SelectMany(layer => new[] { $"model.layers.{layer}.self_attn.q_proj", $"model.layers.{layer}.self_attn.v_proj" })
            .ToList();
        // "layers.1.self_attn.v_proj" is a regex: it must match layer 1 but not layer 10.
        WritePythonAdapter(source, config, modules.Select(m => (m, m == "model.layers.1.self_attn.v_proj" ? 4 : 8)));

        using var adapter = PeftAdapterDirectory.Read(source);

        // No saved order in PEFT files: modules come in path order, layer numbers compared as numbers.
        Assert.Equal(
            modules.OrderBy(m => int.Parse(m.Split('.')[2])).ThenBy(m => m, StringComparer.Ordinal),
            adapter.Modules.Select(m => m.Name));
        Assert.Equal("meta-llama/Llama-3.2-1B", adapter.BaseModel);
        Assert.All(adapter.Modules, m => Assert.Equal(m.Name == "model.layers.1.self_attn.v_proj" ? 4 : 8, m.Rank));
        Assert.All(adapter.Modules, m => Assert.Equal(m.TargetName == "q_proj" ? 32 : 16, m.Alpha));
        Assert.False(adapter.UseRsLora);

        var target = Path.Combine(_dir.Path, "rewritten");
        PeftAdapterDirectory.Write(adapter, target, PeftAdapterDirectory.ReadConfig(source));
        using var rewritten = ConfigJson(target);
        using var reread = PeftAdapterDirectory.Read(target);

        var root = rewritten.RootElement;
        Assert.Equal(JsonValueKind.Null, root.GetProperty("revision").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("layers_to_transform").ValueKind);
        Assert.Equal(JsonValueKind.Object, root.GetProperty("loftq_config").ValueKind);
        Assert.Equal("megatron.core", root.GetProperty("megatron_core").GetString());
        Assert.False(root.GetProperty("use_dora").GetBoolean());
        Assert.True(root.GetProperty("init_lora_weights").GetBoolean());
        Assert.Equal(0.05, root.GetProperty("lora_dropout").GetDouble());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        AssertSameAdapter(adapter, reread);
    }

    [Fact]
    public void Keys_with_an_adapter_name_are_accepted()
    {
        using var a = ones(2, 16);
        using var b = ones(12, 2);
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 2, "lora_alpha": 4}""");
        SafetensorsWriter.Write(Path.Combine(_dir.Path, "adapter_model.safetensors"),
            [($"base_model.model.{Q0}.lora_A.default.weight", a), ($"base_model.model.{Q0}.lora_B.default.weight", b)]);

        using var adapter = PeftAdapterDirectory.Read(_dir.Path);

        Assert.Equal(Q0, Assert.Single(adapter.Modules).Name);
        Assert.Equal(2, adapter[Q0].Rank);
        Assert.Equal(4, adapter[Q0].Alpha);
    }

    [Fact]
    public void Non_finite_values_are_not_a_format_error()
    {
        using var adapter = new LoraAdapter([Module(Q0, 2, 4)]);
        adapter[Q0].A[0, 0] = tensor(float.NaN);
        adapter[Q0].B[0, 0] = tensor(float.PositiveInfinity);

        PeftAdapterDirectory.Write(adapter, _dir.Path);
        using var read = PeftAdapterDirectory.Read(_dir.Path);

        AssertSameAdapter(adapter, read);
    }

    [Fact]
    public void A_missing_directory_is_a_format_error_naming_it()
    {
        var missing = Path.Combine(_dir.Path, "nope");
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void A_missing_config_is_a_format_error()
    {
        WriteWeights(_dir.Path, (Q0, 2));
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));
        Assert.Contains("adapter_config.json is missing", e.Message);
    }

    [Fact]
    public void A_missing_weights_file_is_a_format_error()
    {
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 2}""");
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));
        Assert.Contains("adapter_model.safetensors is missing", e.Message);
    }

    [Fact]
    public void Malformed_config_json_is_a_one_line_format_error_naming_the_file()
    {
        WriteConfig(_dir.Path, "{ \"r\": 8,");
        WriteWeights(_dir.Path, (Q0, 8));
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));
        Assert.Contains(Path.Combine(_dir.Path, "adapter_config.json"), e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_config_field_of_the_wrong_type_is_a_format_error()
    {
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": "eight"}""");
        WriteWeights(_dir.Path, (Q0, 8));
        Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));
    }

    [Fact]
    public void A_non_lora_peft_type_is_a_format_error()
    {
        WriteConfig(_dir.Path, """{"peft_type": "PREFIX_TUNING"}""");
        WriteWeights(_dir.Path, (Q0, 8));
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));
        Assert.Contains("PREFIX_TUNING", e.Message);
    }

    [Fact]
    public void A_module_with_lora_A_but_no_lora_B_is_a_format_error()
    {
        using var a = ones(2, 16);
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 2}""");
        SafetensorsWriter.Write(Path.Combine(_dir.Path, "adapter_model.safetensors"), [($"base_model.model.{Q0}.lora_A.weight", a)]);

        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));

        Assert.Contains(Q0, e.Message);
        Assert.Contains("no lora_B", e.Message);
    }

    [Fact]
    public void An_unknown_key_is_a_format_error_naming_it()
    {
        using var a = ones(2, 16);
        using var b = ones(12, 2);
        using var head = ones(12);
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 2}""");
        SafetensorsWriter.Write(Path.Combine(_dir.Path, "adapter_model.safetensors"),
            [($"base_model.model.{Q0}.lora_A.weight", a), ($"base_model.model.{Q0}.lora_B.weight", b), ("base_model.model.lm_head.bias", head)]);

        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));

        Assert.Contains("'base_model.model.lm_head.bias'", e.Message);
    }

    [Fact]
    public void A_config_rank_that_disagrees_with_the_tensors_is_a_format_error()
    {
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 8}""");
        WriteWeights(_dir.Path, (Q0, 4));

        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));

        Assert.Contains(Q0, e.Message);
        Assert.Contains("rank 4", e.Message);
        Assert.Contains("r says 8", e.Message);
    }

    [Fact]
    public void A_rank_pattern_that_disagrees_with_the_tensors_is_a_format_error()
    {
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 4, "rank_pattern": {"q_proj": 16}}""");
        WriteWeights(_dir.Path, (Q0, 4));

        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));

        Assert.Contains("rank_pattern key 'q_proj' says 16", e.Message);
    }

    [Fact]
    public void Factors_that_disagree_on_the_rank_are_a_format_error()
    {
        using var a = ones(4, 16);
        using var b = ones(12, 8);
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 4}""");
        SafetensorsWriter.Write(Path.Combine(_dir.Path, "adapter_model.safetensors"),
            [($"base_model.model.{Q0}.lora_A.weight", a), ($"base_model.model.{Q0}.lora_B.weight", b)]);

        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));

        Assert.Contains("4 rows", e.Message);
        Assert.Contains("8 columns", e.Message);
    }

    [Fact]
    public void A_corrupt_weights_file_surfaces_the_safetensors_error()
    {
        WriteConfig(_dir.Path, """{"peft_type": "LORA", "r": 2}""");
        File.WriteAllBytes(Path.Combine(_dir.Path, "adapter_model.safetensors"), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7B]);

        var e = Assert.Throws<SafetensorsFormatException>(() => PeftAdapterDirectory.Read(_dir.Path));

        Assert.Equal(SafetensorsError.HeaderTooLarge, e.Error);
        Assert.IsAssignableFrom<AdapterFormatException>(e);
    }

    [Fact]
    public void Write_refuses_pattern_keys_that_would_capture_another_module()
    {
        // PEFT keys match path suffixes: "x" (rank 4) would also claim "a.x" (rank 8).
        using var adapter = new LoraAdapter([Module("x", 4, 8), Module("a.x", 8, 8), Module("b", 8, 8), Module("c", 8, 8)]);

        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapterDirectory.Write(adapter, _dir.Path));

        Assert.Contains("'a.x'", e.Message);
    }

    static LoraModule Module(string name, int rank, double alpha, ScalarType dtype = ScalarType.Float32, bool useRsLora = false, int seed = 0) =>
        new(name, TensorBytes.Random([rank, 16], dtype, seed), TensorBytes.Random([12, rank], dtype, seed + 1000), alpha, useRsLora);

    internal static void AssertSameAdapter(LoraAdapter expected, LoraAdapter actual)
    {
        Assert.Equal(expected.BaseModel, actual.BaseModel);
        Assert.Equal(expected.Modules.Select(m => m.Name), actual.Modules.Select(m => m.Name));
        foreach (var (e, a) in expected.Modules.Zip(actual.Modules))
        {
            Assert.Equal(e.Rank, a.Rank);
            Assert.Equal(e.Alpha, a.Alpha);
            Assert.Equal(e.UseRsLora, a.UseRsLora);
            TensorBytes.AssertIdentical(e.A, a.A);
            TensorBytes.AssertIdentical(e.B, a.B);
        }
    }

    static JsonDocument ConfigJson(string dir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "adapter_config.json")));

    static string Compact(JsonElement e) => JsonSerializer.Serialize(e);

    static void WriteConfig(string dir, string json)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), json);
    }

    static void WriteWeights(string dir, params (string Module, int Rank)[] modules)
    {
        Directory.CreateDirectory(dir);
        var tensors = modules.SelectMany(m => new[]
        {
            ($"base_model.model.{m.Module}.lora_A.weight", ones(m.Rank, 16)),
            ($"base_model.model.{m.Module}.lora_B.weight", ones(12, m.Rank)),
        }).ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "adapter_model.safetensors"), tensors);
        foreach (var (_, t) in tensors) t.Dispose();
    }

    /// <summary>A directory as PEFT's save_pretrained leaves it: the given config, and weights with only {"format": "pt"} metadata.</summary>
    static void WritePythonAdapter(string dir, string config, IEnumerable<(string Module, int Rank)> modules)
    {
        WriteConfig(dir, config);
        var tensors = modules.SelectMany(m => new[]
        {
            ($"base_model.model.{m.Module}.lora_A.weight", TensorBytes.Random([m.Rank, 16], ScalarType.BFloat16, seed: m.Module.Length)),
            ($"base_model.model.{m.Module}.lora_B.weight", TensorBytes.Random([12, m.Rank], ScalarType.BFloat16, seed: m.Rank)),
        }).ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "adapter_model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var (_, t) in tensors) t.Dispose();
    }
}
