namespace Federated.Core.Robust;

/// <summary>
/// Krum and Multi-Krum (Blanchard et al., NeurIPS'17). Score(i) = sum of the squared distances from x_i
/// to its n - f - 2 nearest other updates (the paper's convention; codebases differ, this one is pinned
/// by a test). Krum keeps the best-scored update; Multi-Krum keeps the m best (default n - f) and
/// averages them with their clients' weights renormalised. Needs n >= 2f + 3.
/// </summary>
public sealed class Krum : IRobustRule
{
    readonly int _f;
    readonly int? _selected;

    Krum(int f, int? selected, string name)
    {
        if (f < 0) throw new RobustRuleException($"{name}: f must be non-negative, got {f}");
        if (selected is <= 0) throw new RobustRuleException($"{name}: the number of selected updates must be positive, got {selected}");
        _f = f;
        _selected = selected;
        Name = name;
    }

    /// <summary>Krum: the single update with the best score.</summary>
    public static Krum Single(int f) => new(f, 1, "krum");

    /// <summary>Multi-Krum: the <paramref name="selected"/> best (default n - f), averaged.</summary>
    public static Krum Multi(int f, int? selected = null) => new(f, selected, "multi-krum");

    public string Name { get; }

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        int n = gram.Count;
        if (n < 2 * _f + 3)
            throw new RobustRuleException($"{Name} needs n >= 2f + 3 updates, but n = {n} with f = {_f}");
        int m = Math.Min(n, _selected ?? n - _f);
        var best = Best(Scores(gram, _f), m).ToList();
        var gamma = new double[n];
        double total = best.Sum(i => weights[i]);
        foreach (int i in best) gamma[i] = total > 0 ? weights[i] / total : 1.0 / m;
        return gamma;
    }

    /// <summary>Score(i) = sum of the n - f - 2 smallest squared distances ||x_i - x_j||^2, j != i.</summary>
    public static double[] Scores(UpdateGram gram, int f) => NeighbourScores(gram, gram.Count - f - 2);

    /// <summary>Score(i) = sum of the <paramref name="neighbours"/> smallest squared distances to the other updates.</summary>
    internal static double[] NeighbourScores(UpdateGram gram, int neighbours)
    {
        int n = gram.Count;
        return Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Where(j => j != i)
            .Select(j => gram.SquaredDistance(i, j)).Order().Take(neighbours).Sum()).ToArray();
    }

    /// <summary>Indices of the <paramref name="count"/> best (lowest) scores, ties to the lower index.</summary>
    internal static IEnumerable<int> Best(double[] scores, int count) =>
        scores.Select((score, i) => (score, i)).OrderBy(s => s.score).ThenBy(s => s.i).Take(count).Select(s => s.i);
}
