namespace Federated.Core.Robust;

/// <summary>
/// A pre-aggregator replaces the n updates by m linear mixtures y = M x (bucket means, neighbour means)
/// before a rule runs. Everything stays in coefficient space: the mixtures' Gram is M G M^T, and a
/// rule's coefficients on y become M^T gamma on x.
/// </summary>
public interface IPreAggregator
{
    string Name { get; }

    /// <returns>The mixing matrix M (m x n) and the weights of the m mixtures.</returns>
    (double[,] Mixing, double[] Weights) Mix(UpdateGram gram, IReadOnlyList<double> weights);
}

/// <summary>A rule applied to pre-aggregated mixtures: still a rule on the original updates.</summary>
public sealed class PreAggregatedRule(IPreAggregator pre, IRobustRule rule) : IRobustRule
{
    public string Name => $"{pre.Name}+{rule.Name}";

    public double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights)
    {
        var (mixing, mixedWeights) = pre.Mix(gram, weights);
        int m = mixing.GetLength(0), n = gram.Count;
        var mixedGram = new double[m, m];
        for (int a = 0; a < m; a++)
            for (int b = 0; b < m; b++)
            {
                double total = 0;
                for (int i = 0; i < n; i++)
                {
                    if (mixing[a, i] == 0) continue;
                    for (int j = 0; j < n; j++) total += mixing[a, i] * gram[i, j] * mixing[b, j];
                }
                mixedGram[a, b] = total;
            }
        var gammaMixed = rule.Weigh(new UpdateGram(mixedGram), mixedWeights);
        var gamma = new double[n];
        for (int a = 0; a < m; a++)
            for (int i = 0; i < n; i++) gamma[i] += mixing[a, i] * gammaMixed[a];
        return gamma;
    }
}

/// <summary>
/// Bucketing (Karimireddy et al., ICLR'22): a seeded random partition into buckets of
/// <paramref name="size"/> updates, each replaced by its weighted mean. Repairs much of what non-IID
/// data does to median/Krum/RFA.
/// </summary>
public sealed class Bucketing(int size = 2, int seed = 0) : IPreAggregator
{
    public string Name => "bucketing";

    public (double[,] Mixing, double[] Weights) Mix(UpdateGram gram, IReadOnlyList<double> weights)
    {
        if (size <= 0) throw new RobustRuleException($"bucketing: the bucket size must be positive, got {size}");
        int n = gram.Count;
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        var buckets = order.Chunk(size).ToList();
        var mixing = new double[buckets.Count, n];
        var mixedWeights = new double[buckets.Count];
        for (int b = 0; b < buckets.Count; b++)
        {
            double total = buckets[b].Sum(i => weights[i]);
            foreach (int i in buckets[b])
                mixing[b, i] = total > 0 ? weights[i] / total : 1.0 / buckets[b].Length;
            mixedWeights[b] = total;
        }
        return (mixing, mixedWeights);
    }
}

/// <summary>
/// Nearest-neighbour mixing (Allouah et al., AISTATS'23): each update is replaced by the mean of its
/// n - f nearest updates (itself included), distances from the Gram matrix.
/// </summary>
public sealed class NearestNeighbourMixing(int f) : IPreAggregator
{
    public string Name => "nnm";

    public (double[,] Mixing, double[] Weights) Mix(UpdateGram gram, IReadOnlyList<double> weights)
    {
        int n = gram.Count, k = n - f;
        if (f < 0 || k <= 0) throw new RobustRuleException($"nnm needs 0 <= f < n, but n = {n} with f = {f}");
        var mixing = new double[n, n];
        for (int i = 0; i < n; i++)
            foreach (int j in Enumerable.Range(0, n).OrderBy(j => gram.SquaredDistance(i, j)).ThenBy(j => j != i).Take(k))
                mixing[i, j] = 1.0 / k;
        return (mixing, weights.ToArray());
    }
}
