namespace Federated.Core.Robust;

/// <summary>
/// Norm bounding (Sun et al., 2019): each update is scaled down to norm tau before the weighted mean,
/// gamma_i = p_i min(1, tau / ||x_i||). Without a tau, the median update norm is used, so at most half
/// of the updates are shrunk whatever the scale of the model.
/// </summary>
public sealed class NormBound(double? tau = null) : IRobustRule
{
    public string Name => "norm-bound";

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        if (tau is <= 0) throw new RobustRuleException($"{Name}: tau must be positive");
        var norms = Enumerable.Range(0, gram.Count).Select(i => Math.Sqrt(gram.SquaredNorm(i))).ToArray();
        double bound = tau ?? Statistics.Median(norms);
        return norms.Select((norm, i) => weights[i] * (norm <= bound ? 1.0 : bound / norm)).ToArray();
    }
}
