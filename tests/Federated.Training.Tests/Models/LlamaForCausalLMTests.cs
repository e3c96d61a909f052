using Federated.Training.Models;

namespace Federated.Training.Tests.Models;

public class LlamaForCausalLMTests
{
    static readonly long[] Tokens = [256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100];

    public static TheoryData<string> Variants() => ["llama-gqa", "qwen2-bias-tied", "mha-theta"];

    internal static LlamaConfig Variant(string name) => name switch
    {
        "llama-gqa" => LlamaConfig.Preset("tiny"),
        "qwen2-bias-tied" => LlamaConfig.Preset("tiny") with { ModelType = "qwen2", TieWordEmbeddings = true, NumKeyValueHeads = 1 },
        _ => LlamaConfig.Preset("tiny") with { NumKeyValueHeads = 4, RopeTheta = 1_000_000, NumHiddenLayers = 3 },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Logits_match_an_independent_implementation_of_the_llama_equations(string variant)
    {
        // Inside a NativeWork scope: no other test's forced collection can finalize the scalars TorchSharp's operators make
        // (a temporary Scalar is left to the finalizer while native code still reads it).
        using var work = Federated.Core.Runtime.NativeWork.Enter();
        var config = Variant(variant);
        using var model = LlamaForCausalLM.Create(config, seed: 3);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.EndsWith(".bias") || p.name.Contains("norm")))
                p.copy_(randn(p.shape) * 0.1 + (name.Contains("norm") ? 1 : 0)); // non-trivial norms and biases
        var weights = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

        using var input = tensor(Tokens).unsqueeze(0);
        using var logits = model.forward(input)[0];
        using var expected = ReferenceLlama.Logits(weights, config, Tokens);
        Assert.Equal(expected.shape, logits.shape);
        double error = (logits.to(float64) - expected).abs().max().item<double>();
        Assert.True(error < 1e-4, $"max abs logit error {error:E2}");
    }

    [Fact]
    public void Qwen2_has_qkv_biases_and_tied_models_have_no_lm_head()
    {
        using var model = LlamaForCausalLM.Create(Variant("qwen2-bias-tied"), seed: 1);
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", names);
        Assert.Contains("model.layers.0.self_attn.v_proj.bias", names);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", names);
        Assert.DoesNotContain("lm_head.weight", names);
        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Contains("model.norm.weight", names);
    }

    [Fact]
    public void Loss_counts_only_labelled_next_tokens()
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 2);
        using var input = tensor(Tokens).unsqueeze(0);
        using var logits = model.forward(input);
        // Only position 5's label counts: it is predicted by the logits at position 4.
        var labels = Enumerable.Repeat(LlamaForCausalLM.IgnoreIndex, Tokens.Length).ToArray();
        labels[5] = Tokens[5];
        using var labelTensor = tensor(labels).unsqueeze(0);
        using var loss = model.Loss(input, labelTensor);
        double expected = -logits[0, 4].log_softmax(-1)[Tokens[5]].item<float>();
        Assert.Equal(expected, loss.item<float>(), 4);
    }
}
