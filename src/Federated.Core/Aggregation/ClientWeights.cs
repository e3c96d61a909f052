using Federated.Core.Adapters;

namespace Federated.Core.Aggregation;

/// <summary>Aggregation coefficients p_k for the clients of a round.</summary>
public static class ClientWeights
{
    /// <summary>p_k = n_k / sum_j n_j over the round's participants.</summary>
    public static double[] FromExampleCounts(IReadOnlyList<long> exampleCounts)
    {
        if (exampleCounts.Count == 0)
            throw new ArgumentException("at least one client is needed");
        if (exampleCounts.Any(n => n < 0))
            throw new ArgumentException("example counts must be non-negative");
        double total = exampleCounts.Sum(n => (double)n);
        if (total <= 0)
            throw new ArgumentException("example counts must not all be zero");
        return exampleCounts.Select(n => n / total).ToArray();
    }

    /// <summary>Normalises positive weights (example counts, or any relative importance) to sum to one.</summary>
    public static double[] Normalize(IReadOnlyList<double> weights)
    {
        if (weights.Count == 0)
            throw new ArgumentException("at least one weight is needed");
        if (weights.Any(w => !double.IsFinite(w) || w < 0))
            throw new ArgumentException("weights must be finite and non-negative");
        double total = weights.Sum();
        if (total <= 0)
            throw new ArgumentException("weights must not all be zero");
        return weights.Select(w => w / total).ToArray();
    }

    public static double[] Equal(int count) =>
        count > 0 ? Enumerable.Repeat(1.0 / count, count).ToArray() : throw new ArgumentException("at least one client is needed");

    internal static void Validate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients)
    {
        if (updates.Count == 0)
            throw new IncompatibleAdaptersException("nothing to aggregate: no updates");
        if (coefficients.Count != updates.Count)
            throw new ArgumentException($"{updates.Count} updates but {coefficients.Count} coefficients");
        if (coefficients.Any(c => !double.IsFinite(c)))
            throw new ArgumentException("coefficients must be finite");
    }
}
