namespace Federated.Core.Robust;

/// <summary>
/// Geometric median by smoothed Weiszfeld (RFA, Pillutla et al.): z = sum g_k x_k starting at the
/// weighted mean; beta_i = a_i / max(nu, ||z - x_i||), g = beta / sum beta, until g moves less than
/// <paramref name="tolerance"/> or <paramref name="maxIterations"/>. Distances come from the Gram matrix,
/// so z stays in the span of the updates and is exact there. <paramref name="nu"/> guards the division
/// and must be small against the update scale (RFA's default 1e-6).
/// </summary>
public sealed class GeometricMedian(double nu = 1e-6, int maxIterations = 100, double tolerance = 1e-10) : IRobustRule
{
    public string Name => "geometric-median";

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        if (nu <= 0 || maxIterations <= 0)
            throw new RobustRuleException($"{Name}: nu and the iteration count must be positive");
        int n = gram.Count;
        var g = weights.ToArray();
        for (int iteration = 0; iteration < maxIterations; iteration++)
        {
            var beta = new double[n];
            for (int i = 0; i < n; i++)
                beta[i] = weights[i] / Math.Max(nu, Math.Sqrt(gram.SquaredDistanceTo(i, g)));
            double total = beta.Sum();
            double moved = 0;
            for (int i = 0; i < n; i++)
            {
                double next = beta[i] / total;
                moved = Math.Max(moved, Math.Abs(next - g[i]));
                g[i] = next;
            }
            if (moved < tolerance) break;
        }
        return g;
    }
}
