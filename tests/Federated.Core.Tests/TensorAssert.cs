using Federated.Core.Adapters;

namespace Federated.Core.Tests;

static class TensorAssert
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
            var m = updates[k][module];
            var term = m.B.to(float64).matmul(m.A.to(float64)) * (c[k] * m.Scale);
            sum = sum is null ? term : sum + term;
        }
        return sum!.MoveToOuterDisposeScope();
    }

    /// <summary>s B A of an aggregated module, in float64.</summary>
    public static Tensor Delta(LoraModule m)
    {
        using var scope = NewDisposeScope();
        return (m.B.to(float64).matmul(m.A.to(float64)) * m.Scale).MoveToOuterDisposeScope();
    }
}
