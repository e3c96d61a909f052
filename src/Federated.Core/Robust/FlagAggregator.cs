using Federated.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>
/// Flag Aggregator (Almasi et al., ICLR'24), lambda = 0, run entirely in the span of the updates.
/// With unit updates x^_i = x_i / ||x_i||, K their Gram and W = diag(w), the weighted flag mean's
/// subspace Y (m columns) is Z V L^(-1/2) where Z = [w_i x^_i] and W K W = V L V^T (top m), so every
/// quantity is an n x n computation (ALGORITHMS.md B1, B2). IRLS: w_i = (|1 - ||Y^T x^_i||^2| + eps)^(-1/4),
/// starting from w = 1 (in the span; the reference starts from a random Y). The output
/// (1/m) sum_i Y Y^T x^_i has coefficients c = (1/m) W V L^-1 V^T W K 1 on the unit updates. Flag
/// discards magnitudes, so the result is rescaled to the median update norm (the reference returns the
/// sum of projected unit vectors, whose scale grows with n). Sign-blind: a flipped update spans the
/// same line and is not down-weighted.
/// </summary>
public sealed class FlagAggregator(int subspaceDimension = 1, int iterations = 10, double eps = 1e-7) : IRobustRule
{
    public string Name => "flag";

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        if (subspaceDimension <= 0 || iterations <= 0)
            throw new RobustRuleException($"{Name}: the subspace dimension and iteration count must be positive");
        int n = gram.Count;
        var norms = Enumerable.Range(0, n).Select(i => Math.Sqrt(gram.SquaredNorm(i))).ToArray();
        using var scope = NewDisposeScope();
        var unitGram = zeros(n, n, float64);
        var values = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                values[i * n + j] = norms[i] > 0 && norms[j] > 0 ? gram[i, j] / (norms[i] * norms[j]) : 0;
        unitGram = tensor(values, float64).reshape(n, n);

        // Every number passed to TorchSharp is a scalar held until the call returns (HeldScalars).
        using var relativeFloor = 1e-12.ToScalar();
        using var epsilon = eps.ToScalar();
        using var power = (-0.25).ToScalar();
        var w = ones(n, float64);
        Tensor Projector(Tensor weightsNow, out int kept)
        {
            // W V L^-1 V^T W: the map from unit-update inner products to the subspace projector's coefficients.
            var weighted = weightsNow.unsqueeze(1) * unitGram * weightsNow.unsqueeze(0);
            var (eigenvalues, eigenvectors) = linalg.eigh(weighted);
            kept = Math.Min(subspaceDimension, n);
            var top = eigenvalues.narrow(0, n - kept, kept);
            var v = eigenvectors.narrow(1, n - kept, kept);
            var inverse = where(top > eigenvalues.abs().max().mul(relativeFloor), top.reciprocal(), zeros_like(top));
            return weightsNow.unsqueeze(1) * v.matmul(inverse.diag()).matmul(v.t()) * weightsNow.unsqueeze(0);
        }

        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var projector = Projector(w, out _);
            var projected = unitGram.matmul(projector).matmul(unitGram).diag(); // ||Y^T x^_i||^2
            w = projected.sub(HeldScalars.One).abs().add(epsilon, HeldScalars.One).pow(power);
        }
        var finalProjector = Projector(w, out int m);
        using var subspace = ((double)m).ToScalar();
        var unitCoefficients = finalProjector.matmul(unitGram).matmul(ones(n, float64)).div(subspace);
        var c = unitCoefficients.data<double>().ToArray();

        var gamma = c.Select((ci, i) => norms[i] > 0 ? ci / norms[i] : 0).ToArray();
        double size = Math.Sqrt(gram.SquaredNorm(gamma));
        double target = Statistics.Median(norms);
        return size > 0 ? gamma.Select(g => g * target / size).ToArray() : gamma;
    }
}
