namespace Federated.Training.Tests;

public class ProjectLoadsTests
{
    [Fact]
    public void Torch_runs_from_the_training_test_output() => Assert.Equal(6f, tensor(new float[] { 1, 2, 3 }).sum().item<float>());
}
