using Federated.Training.Models;

namespace Federated.Training.Tests.Models;

public class LoraLinearTests
{
    /// <summary>
    /// A 64x64 layer: rank 16 runs in weight space (64 * 64 &lt; 3 * 16 * 128), rank 4 on the activations. Either way the
    /// output and the factors' gradients are those of x W^T + b + s B (A x), computed here directly, to 1e-5.
    /// </summary>
    [Theory]
    [InlineData(16, true)]
    [InlineData(4, false)]
    public void Branch_gives_the_output_and_gradients_of_its_definition(int rank, bool inWeightSpace)
    {
        using var generator = new Generator(3);
        using var layer = new LoraLinear(64, 64, hasBias: true);
        using (no_grad())
        {
            layer.Weight.copy_(randn(64, 64, generator: generator) * 0.1);
            layer.Bias!.copy_(randn(64, generator: generator));
        }
        layer.Weight.requires_grad_(false);
        layer.Bias!.requires_grad_(false);
        layer.Attach(new LoraBranch(randn(rank, 64, generator: generator) * 0.1, randn(64, rank, generator: generator) * 0.1, alpha: 2.0 * rank));
        var lora = layer.Lora!;
        var x = randn(2, 5, 64, generator: generator);
        var outputGradient = randn(2, 5, 64, generator: generator);

        Assert.Equal(inWeightSpace, layer.BranchInWeightSpace(lora, x));
        using var y = layer.forward(x);
        y.backward([outputGradient]);
        using var gradA = lora.A.grad!;
        using var gradB = lora.B.grad!;

        using var a = lora.A.detach().clone().requires_grad_();
        using var b = lora.B.detach().clone().requires_grad_();
        using var expected = nn.functional.linear(x, layer.Weight, layer.Bias) + lora.Scale * nn.functional.linear(nn.functional.linear(x, a), b);
        expected.backward([outputGradient]);
        using var expectedGradA = a.grad!;
        using var expectedGradB = b.grad!;

        Assert.True(y.allclose(expected, rtol: 0, atol: 1e-5), "output");
        Assert.True(gradA.allclose(expectedGradA, rtol: 0, atol: 1e-5), "gradient of A");
        Assert.True(gradB.allclose(expectedGradB, rtol: 0, atol: 1e-5), "gradient of B");
    }

    /// <summary>Dropout acts on the branch's input only while training, and a bf16 base keeps its float32 branch apart.</summary>
    [Fact]
    public void Branch_stays_on_the_activations_under_dropout_in_training_and_on_a_bf16_base()
    {
        using var layer = new LoraLinear(64, 64, hasBias: false);
        layer.Attach(LoraBranch.Fresh(64, 64, rank: 16, alpha: 32, useRsLora: false, dropout: 0.1, new Generator(1), CPU));
        using var x = zeros(1, 64);
        layer.train();
        Assert.False(layer.BranchInWeightSpace(layer.Lora!, x));
        layer.eval();
        Assert.True(layer.BranchInWeightSpace(layer.Lora!, x));

        using var bf16Layer = new LoraLinear(64, 64, hasBias: false, ScalarType.BFloat16);
        bf16Layer.Attach(LoraBranch.Fresh(64, 64, rank: 16, alpha: 32, useRsLora: false, dropout: 0, new Generator(1), CPU));
        using var bf16X = zeros(1, 64, ScalarType.BFloat16);
        Assert.False(bf16Layer.BranchInWeightSpace(bf16Layer.Lora!, bf16X));
    }
}
