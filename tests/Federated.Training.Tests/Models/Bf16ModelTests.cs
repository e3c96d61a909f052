using Federated.Training.Data;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Models;

/// <summary>A bf16 base computes as HF runs a bf16 Llama: weights and activations bf16, norms and the loss in float32.</summary>
public sealed class Bf16ModelTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("bf16-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>8 sequences of 64 bytes of real English text.</summary>
    static TrainingBatch Batch() => TrainingBatcher.Batches(
        PlainTextChunker.ReadFile("/usr/share/common-licenses/GPL-3", ByteLevelTokenizer.Instance, contextLength: 64).Take(8).ToList(),
        8, ByteLevelTokenizer.Pad, seed: null).First();

    /// <summary>
    /// Stated bound: the largest logit error is under 2% of the largest fp32 logit, the RMS error under 1.5% of the
    /// RMS logit, the loss within 1e-3 nats. Measured on tiny (3 seeds, this batch): max 0.57% to 0.77%, RMS 0.53% to
    /// 0.59%, loss 3e-5 to 1e-4 (small: max 0.92% to 1.01%, RMS ~0.8%). bf16 keeps 8 significant bits (unit roundoff
    /// 2^-8 = 0.39%), and the error of two layers of rounded weights and activations is a small multiple of that.
    /// </summary>
    [Theory]
    [InlineData("llama-gqa")]
    [InlineData("qwen2-bias-tied")]
    public void Bf16_logits_match_the_fp32_model_within_bf16_rounding(string variant)
    {
        var config = LlamaForCausalLMTests.Variant(variant);
        using var fp32 = LlamaForCausalLM.Create(config, seed: 1);
        using var bf16 = LlamaForCausalLM.Create(config, seed: 1, ScalarType.BFloat16);
        using var batch = Batch();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var expected = fp32.forward(batch.InputIds);
        var actual = bf16.forward(batch.InputIds);
        Assert.Equal(ScalarType.BFloat16, actual.dtype);
        var error = actual.to(float32) - expected;
        double maxRelative = (error.abs().max() / expected.abs().max()).item<float>();
        double rmsRelative = (error.pow(2).mean().sqrt() / expected.pow(2).mean().sqrt()).item<float>();
        Assert.True(maxRelative < 2e-2, $"max logit error {maxRelative:P2} of the largest logit");
        Assert.True(rmsRelative < 1.5e-2, $"RMS logit error {rmsRelative:P2}");

        var loss = bf16.Loss(batch.InputIds, batch.Labels);
        Assert.Equal(ScalarType.Float32, loss.dtype);
        Assert.Equal(fp32.Loss(batch.InputIds, batch.Labels).item<float>(), loss.item<float>(), 1e-3);
    }

    [Fact]
    public void Base_parameters_are_bf16_and_lora_factors_float32()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 1, ScalarType.BFloat16);
        LoraInjection.Inject(model, ["q_proj", "v_proj", "down_proj"], rank: 4, alpha: 8, seed: 2);
        Assert.Equal(ScalarType.BFloat16, model.ComputeDtype);
        Assert.All(model.named_parameters(), p => Assert.Equal(ScalarType.BFloat16, p.parameter.dtype));
        Assert.Contains(model.named_parameters(), p => p.name == "lm_head.weight");
        Assert.Contains(model.named_parameters(), p => p.name == "model.embed_tokens.weight");
        Assert.All(LoraInjection.TrainableParameters(model), p => Assert.Equal(ScalarType.Float32, p.dtype));
        using var adapter = LoraInjection.Export(model);
        Assert.All(adapter.Modules, m => Assert.Equal(ScalarType.Float32, m.A.dtype));
    }

    [Fact]
    public void Rms_norm_normalises_in_float32_and_returns_the_input_dtype()
    {
        // The result is the float32 computation rounded once to bf16 (the weight is one), not a bf16 mean of bf16 squares.
        using var norm = new RmsNorm(64, 1e-5, ScalarType.BFloat16);
        using var generator = new Generator(5);
        using var x = (randn([3, 64], generator: generator) * 30).to(ScalarType.BFloat16);
        using var y = norm.forward(x);
        using var x32 = x.to(float32);
        using var expected = (x32 * (x32.pow(2).mean([-1], keepdim: true) + 1e-5).rsqrt()).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        Assert.True(y.eq(expected).all().item<bool>());
    }

    [Fact]
    public void A_bf16_checkpoint_loads_into_a_bf16_model_bit_identically()
    {
        using var saved = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 4);
        HfCheckpoint.Save(saved, _dir, ScalarType.BFloat16);
        using var loaded = HfCheckpoint.Load(_dir, ScalarType.BFloat16);
        var parameters = loaded.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in saved.named_parameters())
        {
            using var rounded = p.detach().to(ScalarType.BFloat16);
            Assert.True(rounded.bytes.SequenceEqual(parameters[name].bytes), name);
        }
    }
}
