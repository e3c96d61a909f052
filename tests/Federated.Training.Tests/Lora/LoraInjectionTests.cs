using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Formats.Peft;
using Federated.Training.Lora;
using Federated.Training.Models;

namespace Federated.Training.Tests.Lora;

public sealed class LoraInjectionTests : IDisposable
{
    static readonly string[] AllTargets = LoraTestModel.AllTargets;
    readonly LlamaForCausalLM _model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 7);
    readonly Tensor _input = LoraTestModel.Input();
    readonly string _dir = Directory.CreateTempSubdirectory("lora-").FullName;

    public void Dispose()
    {
        _model.Dispose();
        _input.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    Tensor Logits() => LoraTestModel.Logits(_model, _input);

    void Train() => LoraTestModel.Train(_model);

    [Fact]
    public void A_lora_model_with_B_zero_gives_exactly_the_base_logits()
    {
        using var before = Logits();
        LoraInjection.Inject(_model, AllTargets, rank: 8, alpha: 16, seed: 1);
        using var after = Logits();
        Assert.True(after.eq(before).all().item<bool>());
        Assert.Equal(2 * 7 * 2, LoraInjection.TrainableParameters(_model).Count);
        Assert.All(_model.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(LoraInjection.TrainableParameters(_model), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Merged_weights_give_the_same_logits_as_the_unmerged_branch()
    {
        LoraInjection.Inject(_model, ["q_proj", "v_proj", "down_proj"], rank: 4, alpha: 8, seed: 2);
        Train();
        using var branch = Logits();
        using var adapter = LoraInjection.Export(_model);
        LoraInjection.Remove(_model);
        LoraInjection.Merge(_model, adapter);
        using var merged = Logits();
        double error = (merged - branch).abs().max().item<float>() / branch.abs().max().item<float>();
        Assert.True(error < 1e-5, $"relative error {error:E2}");
    }

    [Fact]
    public void Merging_a_mixed_rank_flora_stack_equals_the_weighted_sum_of_client_branches()
    {
        // Two clients at ranks 2 and 8; the FLoRA stack merged into the base equals applying p1 dW1 + p2 dW2.
        LoraInjection.Inject(_model, ["q_proj", "v_proj"], rank: 2, alpha: 4, seed: 3);
        Train();
        using var client1 = LoraInjection.Export(_model);
        LoraInjection.Inject(_model, ["q_proj", "v_proj"], rank: 8, alpha: 16, seed: 4);
        Train();
        using var client2 = LoraInjection.Export(_model);
        LoraInjection.Remove(_model);
        using var stack = new FloraStacking().Aggregate([client1, client2], [0.25, 0.75]);

        using var expectedModel = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 7);
        using (no_grad())
            foreach (var (name, layer) in expectedModel.Projections().Where(p => stack.Contains(p.Name)))
            {
                using var delta = client1[name].DenseDelta() * 0.25 + client2[name].DenseDelta() * 0.75;
                layer.Weight.add_(delta);
            }
        using var _ = no_grad();
        using var expected = expectedModel.forward(_input);
        LoraInjection.Merge(_model, stack);
        using var actual = Logits();
        Assert.True((actual - expected).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void An_exported_adapter_reimported_through_a_peft_directory_gives_identical_logits()
    {
        LoraInjection.Inject(_model, AllTargets, rank: 4, alpha: 8, seed: 5, useRsLora: true);
        Train();
        using var before = Logits();
        using (var adapter = LoraInjection.Export(_model, baseModel: "tiny"))
            PeftAdapterDirectory.Write(adapter, _dir);
        LoraInjection.Remove(_model);

        using var reread = PeftAdapterDirectory.Read(_dir);
        Assert.Equal("model.layers.0.self_attn.q_proj", reread.Modules[0].Name);
        LoraInjection.Import(_model, reread);
        using var after = Logits();
        Assert.True(after.eq(before).all().item<bool>());
    }

    [Fact]
    public void An_unknown_target_module_is_rejected_naming_it()
    {
        var e = Assert.Throws<ArgumentException>(() => LoraInjection.Inject(_model, ["q_proj", "qkv_proj"], rank: 4, alpha: 8));
        Assert.Contains("qkv_proj", e.Message);
    }

    [Fact]
    public void An_adapter_for_another_model_is_rejected_naming_the_module()
    {
        using var other = RandomAdapters.Create([new ModuleShape("model.layers.0.self_attn.q_proj", 32, 32)], 4, 8, seed: 1);
        var e = Assert.Throws<AdapterShapeException>(() => LoraInjection.Import(_model, other));
        Assert.Contains("model.layers.0.self_attn.q_proj", e.Message);
    }
}
