using Federated.Core.Adapters;

namespace Federated.Testing;

public static class TensorAssert
{
    /// <summary>||actual - expected||_F / ||expected||_F, computed in float64.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var e = expected.to(float64);
        return (actual.to(float64) - e).norm().item<double>() / e.norm().item<double>();
    }

    public static void Close(Tensor actual, Tensor expected, double tolerance = 1e-5)
    {
        Assert.Equal(expected.shape, actual.shape);
        double error = RelativeError(actual, expected);
        Assert.True(error <= tolerance, $"relative error {error:E3} exceeds {tolerance:E1}");
    }

    /// <summary>sum_k c_k s_k B_k A_k for one module, in float64.</summary>
    public static Tensor WeightedDeltaSum(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> c, string module)
    {
        using var scope = NewDisposeScope();
        Tensor? sum = null;
        for (int k = 0; k < updates.Count; k++)
        {
            var term = updates[k][module].DenseDelta(float64) * c[k];
            sum = sum is null ? term : sum + term;
        }
        return sum!.MoveToOuterDisposeScope();
    }
}
