namespace Federated.Core.Robust;

/// <summary>
/// Centered clipping (Karimireddy et al., ICML'21): from v_0 = 0, for L iterations
/// v &lt;- v + sum_i p_i (x_i - v) min(1, tau / ||x_i - v||) (p_i = 1/n for equal weights). v is kept as
/// coefficients over the updates, so every distance is exact from the Gram matrix.
/// A fixed tau is scale dependent (the paper's 10 suits its gradients, not every LoRA update); without
/// one, each iteration uses tau = the median of ||x_i - v||, which clips the farthest half.
/// </summary>
public sealed class CenteredClipping(double? tau = null, int iterations = 3) : IRobustRule
{
    public string Name => "centered-clipping";

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        if (tau is <= 0 || iterations <= 0)
            throw new RobustRuleException($"{Name}: tau and the iteration count must be positive");
        int n = gram.Count;
        var c = new double[n];
        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var distance = Enumerable.Range(0, n).Select(i => Math.Sqrt(gram.SquaredDistanceTo(i, c))).ToArray();
            double radius = tau ?? Statistics.Median(distance);
            var step = new double[n];
            for (int i = 0; i < n; i++)
                step[i] = weights[i] * (distance[i] <= radius ? 1.0 : radius / distance[i]);
            double kept = step.Sum();
            for (int i = 0; i < n; i++) c[i] = c[i] * (1 - kept) + step[i];
        }
        return c;
    }
}
