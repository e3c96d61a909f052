using Federated.Core.Formats.Safetensors;
using Federated.Training.Models;

namespace Federated.Training.Tests.Models;

public sealed class HfCheckpointTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static void AssertSameParameters(LlamaForCausalLM expected, LlamaForCausalLM actual)
    {
        var a = expected.named_parameters().ToList();
        var b = actual.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(a.Count, b.Count);
        foreach (var (name, p) in a)
            Assert.True(p.bytes.SequenceEqual(b[name].bytes), $"{name} differs");
    }

    [Theory]
    [InlineData(null)]
    [InlineData(40_000L)] // several shards plus an index
    public void A_saved_checkpoint_loads_back_bit_identically(long? maxShardBytes)
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 11);
        HfCheckpoint.Save(model, _dir, maxShardBytes: maxShardBytes);
        Assert.Equal(maxShardBytes is null, File.Exists(Path.Combine(_dir, HfCheckpoint.WeightsFileName)));
        Assert.Equal(maxShardBytes is not null, File.Exists(Path.Combine(_dir, HfCheckpoint.IndexFileName)));
        if (maxShardBytes is not null) Assert.True(Directory.GetFiles(_dir, "model-*-of-*.safetensors").Length > 2);

        using var loaded = HfCheckpoint.Load(_dir);
        Assert.Equal(model.Config with { Architectures = null }, loaded.Config with { Architectures = null });
        Assert.Equal(model.Config.Architectures, loaded.Config.Architectures);
        AssertSameParameters(model, loaded);
    }

    [Fact]
    public void A_bf16_checkpoint_loads_as_the_rounded_float32_values()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 12);
        HfCheckpoint.Save(model, _dir, ScalarType.BFloat16);
        using var loaded = HfCheckpoint.Load(_dir);
        var original = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in loaded.named_parameters())
            Assert.True(p.eq(original[name].to(ScalarType.BFloat16).to(float32)).all().item<bool>(), name);
    }

    [Fact]
    public void Hf_tensor_names_are_written()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 13);
        HfCheckpoint.Save(model, _dir);
        using var file = SafetensorsReader.Read(Path.Combine(_dir, HfCheckpoint.WeightsFileName));
        foreach (var name in new[] { "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight",
                     "model.layers.0.input_layernorm.weight", "model.norm.weight", "lm_head.weight" })
            Assert.True(file.Contains(name), name);
    }

    ModelFormatException LoadFails() => Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(_dir));

    [Fact]
    public void A_missing_config_is_named() => Assert.Contains("config.json is missing", LoadFails().Message);

    [Fact]
    public void A_malformed_config_is_named()
    {
        File.WriteAllText(Path.Combine(_dir, HfCheckpoint.ConfigFileName), "{\"hidden_size\": 64,");
        Assert.Contains("config.json: malformed JSON", LoadFails().Message);
    }

    [Fact]
    public void An_inconsistent_config_is_named()
    {
        (LlamaConfig.Preset("tiny") with { NumKeyValueHeads = 3 }).Write(Path.Combine(_dir, HfCheckpoint.ConfigFileName));
        Assert.Contains("not a multiple of num_key_value_heads 3", LoadFails().Message);
    }

    [Fact]
    public void A_missing_shard_is_named()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 14);
        HfCheckpoint.Save(model, _dir, maxShardBytes: 40_000);
        var shard = Directory.GetFiles(_dir, "model-*-of-*.safetensors").Order().Last();
        File.Delete(shard);
        Assert.Contains($"shard {Path.GetFileName(shard)} is missing", LoadFails().Message);
    }

    [Fact]
    public void A_tensor_of_the_wrong_shape_is_named()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 15);
        HfCheckpoint.Save(model, _dir);
        (model.Config with { IntermediateSize = 160 }).Write(Path.Combine(_dir, HfCheckpoint.ConfigFileName));
        var e = LoadFails();
        // Tensors are stored in name order, so down_proj is the first to disagree.
        Assert.Contains("'model.layers.0.mlp.down_proj.weight' is [64x176] but the config makes it [64x160]", e.Message);
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 16);
        var tensors = model.named_parameters().Where(p => p.name != "model.norm.weight").Select(p => (p.name, (Tensor)p.parameter)).ToList();
        model.Config.Write(Path.Combine(_dir, HfCheckpoint.ConfigFileName));
        SafetensorsWriter.Write(Path.Combine(_dir, HfCheckpoint.WeightsFileName), tensors);
        Assert.Contains("lacks 'model.norm.weight'", LoadFails().Message);
    }
}
