using Federated.Training.Training;
using TorchSharp.Modules;

namespace Federated.Training.Tests.Training;

public sealed class AdamWOptimizerTests
{
    /// <summary>Two parameters trained on the same gradients by <paramref name="step"/>, whose values come back.</summary>
    static Tensor[] Train(Func<IReadOnlyList<Parameter>, Action<double>> optimizer, int steps)
    {
        using var generator = new Generator(5);
        using var weight = new Parameter(randn(6, 5, generator: generator));
        using var bias = new Parameter(randn(5, generator: generator));
        using var frozen = new Parameter(randn(3, generator: generator)); // never gets a gradient: left alone
        var step = optimizer([weight, bias, frozen]);
        for (int i = 0; i < steps; i++)
        {
            using (var input = randn(4, 6, generator: generator))
            using (var loss = input.matmul(weight).add(bias).tanh().pow(2).sum())
                loss.backward();
            step(1e-2 * (1 + i % 3)); // the learning rate changes between steps, as the schedule does
            weight.grad = null;
            bias.grad = null;
        }
        return [weight.detach().clone(), bias.detach().clone(), frozen.detach().clone()];
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.05)]
    public void Steps_give_the_same_bits_as_TorchSharps_AdamW(double weightDecay)
    {
        var expected = Train(parameters =>
        {
            var adamW = optim.AdamW(parameters, 1e-2, 0.9, 0.99, 1e-6, weightDecay);
            return lr =>
            {
                foreach (var group in adamW.ParamGroups) group.LearningRate = lr;
                adamW.step();
            };
        }, steps: 12);
        AdamWOptimizer? ours = null;
        var actual = Train(parameters =>
        {
            ours = new AdamWOptimizer(parameters, 1e-2, 0.9, 0.99, 1e-6, weightDecay);
            return lr =>
            {
                ours.LearningRate = lr;
                ours.Step();
            };
        }, steps: 12);
        using (ours)
            Assert.Equal(12, ours!.Steps);
        foreach (var (e, a) in expected.Zip(actual))
            using (e)
            using (a)
                Assert.True(e.eq(a).all().item<bool>(), $"max difference {(e - a).abs().max().item<float>():E2}");
    }

    [Fact]
    public void Loading_the_state_of_other_parameters_is_refused_and_changes_nothing()
    {
        using var small = new Parameter(ones(2, 3));
        using var large = new Parameter(ones(3, 3));
        using var saved = new AdamWOptimizer([small], 1e-2, 0.9, 0.999, 1e-8, 0);
        using (var loss = small.sum()) loss.backward();
        saved.Step();
        using var stream = new MemoryStream();
        saved.Save(new BinaryWriter(stream));

        using var other = new AdamWOptimizer([large], 1e-2, 0.9, 0.999, 1e-8, 0);
        stream.Position = 0;
        Assert.Throws<InvalidDataException>(() => other.Load(new BinaryReader(stream)));
        Assert.Equal(0, other.Steps);
    }
}
