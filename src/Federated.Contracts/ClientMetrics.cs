using System.Text.RegularExpressions;

namespace Federated.Contracts;

/// <summary>
/// The bounds of a client's metrics report: a handful of numbers (train_loss, eval_loss, tokens_per_second, ...), so
/// names are short identifiers. Values may be NaN: a diverged run's loss is worth reporting, and is left out of means.
/// </summary>
public static partial class ClientMetrics
{
    public const int MaxMetrics = 32;
    public const int MaxNameLength = 64;

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_.-]*$")]
    private static partial Regex NamePattern();

    /// <summary>Null when <paramref name="metrics"/> is within bounds, else what is out of them.</summary>
    public static string? Problem(IReadOnlyCollection<KeyValuePair<string, double>> metrics)
    {
        if (metrics.Count > MaxMetrics) return $"{metrics.Count} metrics in one report; at most {MaxMetrics}";
        if (metrics.Any(m => m.Key.Length > MaxNameLength || !NamePattern().IsMatch(m.Key)))
            return $"metric names are identifiers of up to {MaxNameLength} letters, digits, '_', '.' or '-' (starting with a letter); one is not";
        return null;
    }

    /// <summary>
    /// The round's metrics: per name, the mean of the finite values reported by clients with a weight, weighted by it.
    /// At most <see cref="MaxMetrics"/> names (those most clients reported), so that a client inventing names cannot
    /// grow what the coordinator exports.
    /// </summary>
    public static RoundMetric[] Aggregate(IEnumerable<(IReadOnlyDictionary<string, double> Metrics, double Weight)> reports)
    {
        var sums = new Dictionary<string, (double Weighted, double Weight, int Clients)>(StringComparer.Ordinal);
        foreach (var (metrics, weight) in reports)
        {
            if (!(weight > 0)) continue;
            foreach (var (name, value) in metrics)
            {
                if (!double.IsFinite(value)) continue;
                var s = sums.GetValueOrDefault(name);
                sums[name] = (s.Weighted + weight * value, s.Weight + weight, s.Clients + 1);
            }
        }
        return sums.OrderByDescending(s => s.Value.Clients).ThenBy(s => s.Key, StringComparer.Ordinal).Take(MaxMetrics)
            .OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => new RoundMetric(s.Key, s.Value.Weighted / s.Value.Weight, s.Value.Clients)).ToArray();
    }
}
