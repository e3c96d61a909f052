using Federated.Training.Lora;
using Federated.Training.Models;

namespace Federated.Training.Tests.Lora;

/// <summary>What the LoRA tests share: every target module, a fixed input, logits without autograd, trained-looking branches.</summary>
static class LoraTestModel
{
    public static readonly string[] AllTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Two sequences of six byte-level tokens (the first a BOS).</summary>
    public static Tensor Input() => tensor(new long[] { 256, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110 }).reshape(2, 6);

    public static Tensor Logits(LlamaForCausalLM model, Tensor input)
    {
        using var _ = no_grad();
        return model.forward(input);
    }

    /// <summary>Gives every branch a non-zero B, as training would.</summary>
    public static void Train(LlamaForCausalLM model)
    {
        using var _ = no_grad();
        using var generator = new Generator(9);
        foreach (var b in LoraInjection.TrainableParameters(model).Where((_, i) => i % 2 == 1))
            b.copy_(randn(b.shape, generator: generator) * 0.05);
    }
}
