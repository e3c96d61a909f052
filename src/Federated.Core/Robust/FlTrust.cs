using Federated.Core.Adapters;

namespace Federated.Core.Robust;

/// <summary>
/// A rule that also needs a server-side reference update. The Gram it receives has n + 1 rows: the
/// clients' updates, then the reference.
/// </summary>
public interface IReferenceRule : IRobustRule
{
    LoraAdapter Reference { get; }
}

/// <summary>
/// FLTrust (Cao et al., NDSS'21): the server trains its own update g_0 on a small clean root set; each
/// client scores TS_i = ReLU(cos(x_i, g_0)), is rescaled to ||g_0||, and the result is
/// sum TS_i x_i ||g_0|| / ||x_i|| / sum TS_i (zero when no client points the server's way). As in the
/// paper, trust replaces the example-count weights.
/// </summary>
public sealed class FlTrust(LoraAdapter rootUpdate) : IReferenceRule
{
    public string Name => "fltrust";
    public LoraAdapter Reference => rootUpdate;

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        int n = gram.Count - 1;
        if (n != weights.Count)
            throw new RobustRuleException($"{Name} needs the Gram of the {weights.Count} updates plus the root update");
        double rootNorm = Math.Sqrt(gram.SquaredNorm(n));
        if (rootNorm == 0) throw new RobustRuleException($"{Name}: the root update is zero");
        var norms = Enumerable.Range(0, n).Select(i => Math.Sqrt(gram.SquaredNorm(i))).ToArray();
        var trust = Enumerable.Range(0, n).Select(i => norms[i] > 0 ? Math.Max(0, gram[i, n] / (norms[i] * rootNorm)) : 0).ToArray();
        double total = trust.Sum();
        return trust.Select((t, i) => total > 0 ? t * rootNorm / norms[i] / total : 0).ToArray();
    }
}
