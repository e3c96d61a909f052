using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>Norms of dW = s B A computed from the factors, never forming the d_out x d_in matrix.</summary>
public static class LoraNorms
{
    /// <summary>||s B A||_F = |s| sqrt(tr((B^T B)(A A^T))), in O((d_in + d_out) r^2).</summary>
    public static double Frobenius(LoraModule module)
    {
        using var scope = NewDisposeScope();
        var a = module.A.to(float64);
        var b = module.B.to(float64);
        double trace = (b.t().matmul(b) * a.matmul(a.t())).sum().item<double>();
        return Math.Abs(module.Scale) * Math.Sqrt(Math.Max(trace, 0));
    }

    /// <summary>The Frobenius norm of the whole adapter's update: sqrt(sum over modules of ||dW||_F^2).</summary>
    public static double Frobenius(LoraAdapter adapter) =>
        Math.Sqrt(adapter.Modules.Sum(m => Math.Pow(Frobenius(m), 2)));
}
