using Federated.Core.Adapters;
using Federated.Training.Lora;
using Federated.Training.Models;

namespace Federated.Training.Tests.Lora;

/// <summary>LoRA on a bf16 base as PEFT runs it: float32 factors, the branch in float32, its sum rounded once to bf16.</summary>
public sealed class Bf16LoraTests : IDisposable
{
    static readonly string[] AllTargets = LoraTestModel.AllTargets;
    readonly LlamaForCausalLM _model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 7, ScalarType.BFloat16);
    readonly Tensor _input = LoraTestModel.Input();

    public void Dispose()
    {
        _model.Dispose();
        _input.Dispose();
    }

    Tensor Logits() => LoraTestModel.Logits(_model, _input);

    void Train() => LoraTestModel.Train(_model);

    [Fact]
    public void A_bf16_lora_model_with_B_zero_gives_exactly_the_bf16_base_logits()
    {
        using var before = Logits();
        LoraInjection.Inject(_model, AllTargets, rank: 8, alpha: 16, seed: 1);
        using var after = Logits();
        Assert.Equal(ScalarType.BFloat16, after.dtype);
        Assert.True(after.eq(before).all().item<bool>());
    }

    [Fact]
    public void One_backward_pass_gives_finite_float32_gradients_to_lora_only()
    {
        LoraInjection.Inject(_model, AllTargets, rank: 4, alpha: 8, seed: 2);
        Train(); // B != 0, so A's gradients are not zero either
        _model.train();
        using (var loss = _model.Loss(_input, _input)) loss.backward();
        foreach (var p in LoraInjection.TrainableParameters(_model))
        {
            using var grad = p.grad!;
            Assert.Equal(ScalarType.Float32, grad.dtype);
            Assert.True(grad.isfinite().all().item<bool>());
            Assert.True(grad.abs().sum().item<float>() > 0);
        }
        Assert.All(_model.parameters(), p => Assert.Null(p.grad));
    }

    /// <summary>
    /// Stated bound: merged and unmerged logits differ by under 2% of the largest logit, while the adapter itself moves
    /// them by over 20% (measured over seeds 7, 8, 9: 0.88%, 0.59%, 0.77% against 70%, 75%, 49%). The merged weights
    /// are rounded to bf16 where the branch adds its float32 output to the bf16 base output; unit roundoff is 0.39%.
    /// </summary>
    [Fact]
    public void Merging_into_a_bf16_base_equals_the_unmerged_branch_within_bf16_rounding()
    {
        using var baseLogits = Logits();
        LoraInjection.Inject(_model, ["q_proj", "v_proj", "down_proj"], rank: 4, alpha: 8, seed: 2);
        Train();
        using var branch = Logits();
        using var adapter = LoraInjection.Export(_model);
        LoraInjection.Remove(_model);
        LoraInjection.Merge(_model, adapter);
        using var merged = Logits();
        double Relative(Tensor other) => ((other.to(float32) - branch.to(float32)).abs().max() / branch.to(float32).abs().max()).item<float>();
        Assert.True(Relative(baseLogits) > 0.2, $"the adapter moves the logits by only {Relative(baseLogits):P2}");
        Assert.True(Relative(merged) < 2e-2, $"relative error {Relative(merged):P2}");
    }

    [Fact]
    public void A_merge_forms_base_plus_delta_in_float32_and_rounds_it_once_to_bf16()
    {
        var layer = _model.Projections().First(p => p.Name == "model.layers.0.self_attn.q_proj").Layer;
        using var before = layer.Weight.detach().clone();
        using var generator = new Generator(3);
        var module = new LoraModule("model.layers.0.self_attn.q_proj",
            randn([4, layer.InFeatures], generator: generator) * 0.1, randn([layer.OutFeatures, 4], generator: generator) * 0.01, alpha: 8);
        using var adapter = new LoraAdapter([module]); // owns the module
        LoraInjection.Merge(_model, adapter);
        using var delta = module.DenseDelta();
        using var expected = (before.to(float32) + delta).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, layer.Weight.dtype);
        Assert.True(layer.Weight.eq(expected).all().item<bool>());
    }
}
