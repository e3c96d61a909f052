using Federated.Core.Adapters;

namespace Federated.Core.Robust;

/// <summary>The robust rules by name, as the CLI and federation configs spell them.</summary>
public static class RobustRules
{
    public static readonly IReadOnlyList<string> Names =
        ["krum", "multi-krum", "geometric-median", "centered-clipping", "norm-bound", "flag", "fltrust"];

    /// <param name="f">Assumed number of Byzantine clients (Krum family).</param>
    /// <param name="tau">Clipping radius (centered clipping, norm bounding); default adaptive (median).</param>
    /// <param name="rootUpdate">The server's own update on clean root data (fltrust).</param>
    public static IRobustRule Create(string name, int f = 0, double? tau = null, LoraAdapter? rootUpdate = null) => name.ToLowerInvariant() switch
    {
        "krum" => Krum.Single(f),
        "multi-krum" => Krum.Multi(f),
        "geometric-median" => new GeometricMedian(),
        "centered-clipping" => new CenteredClipping(tau),
        "norm-bound" => new NormBound(tau),
        "flag" => new FlagAggregator(),
        "fltrust" => new FlTrust(rootUpdate ?? throw new ArgumentException("fltrust needs the server's root update")),
        _ => throw new ArgumentException($"unknown rule '{name}' (expected one of: {string.Join(", ", Names)})"),
    };

    /// <summary>Rules that need the server's own update on clean root data (a federation has none yet).</summary>
    public static bool NeedsRootUpdate(string name) => name.Equals("fltrust", StringComparison.OrdinalIgnoreCase);

    /// <summary>The rules a federation can run: every rule that needs no root update.</summary>
    public static IReadOnlyList<string> FederationNames => [.. Names.Concat(CoordinateWiseNames).Where(r => !NeedsRootUpdate(r))];

    /// <summary>
    /// How many updates a rule needs, given f Byzantine clients (null: the plain mean, which needs one), when
    /// <paramref name="preAggregator"/> runs first. Bucketing hands the rule ceil(n / s) bucket means, up to f of them
    /// Byzantine (one attacker spoils its whole bucket), so a rule that needs m inputs needs s(m - 1) + 1 clients;
    /// nearest-neighbour mixing keeps n mixtures but needs n > f.
    /// </summary>
    public static int MinimumClients(string? name, int f, string? preAggregator = null)
    {
        int rule = name?.ToLowerInvariant() switch
        {
            "krum" or "multi-krum" => 2 * f + 3,
            "bulyan" => 4 * f + 3,
            "trimmed-mean" => 2 * f + 1,
            _ => 1,
        };
        return preAggregator?.ToLowerInvariant() switch
        {
            "bucketing" => BucketSize * (rule - 1) + 1,
            "nnm" => Math.Max(rule, f + 1),
            _ => rule,
        };
    }

    /// <summary>Updates per bucket for bucketing (Karimireddy et al. use 2).</summary>
    public const int BucketSize = 2;

    /// <summary>Rules that work on materialised per-module deltas (see <see cref="CoordinateWiseRule"/> for their memory cost).</summary>
    public static readonly IReadOnlyList<string> CoordinateWiseNames = ["median", "trimmed-mean", "bulyan"];

    /// <param name="f">Trimmed per side (trimmed-mean), or the assumed Byzantine count (bulyan).</param>
    public static CoordinateWiseRule CreateCoordinateWise(string name, int f = 0, long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) =>
        name.ToLowerInvariant() switch
        {
            "median" => new CoordinateMedian(maxDenseBytes),
            "trimmed-mean" => new TrimmedMean(f, maxDenseBytes),
            "bulyan" => new Bulyan(f, maxDenseBytes),
            _ => throw new ArgumentException($"unknown coordinate-wise rule '{name}' (expected one of: {string.Join(", ", CoordinateWiseNames)})"),
        };

    public static readonly IReadOnlyList<string> PreAggregatorNames = ["bucketing", "nnm"];

    /// <summary>Whether a pre-aggregator can run before <paramref name="rule"/>: only the Gram-based rules take one (not the mean, not coordinate-wise rules).</summary>
    public static bool TakesPreAggregator(string? rule) => rule is not null && Names.Contains(rule, StringComparer.OrdinalIgnoreCase);

    /// <summary>Wraps <paramref name="rule"/> in a pre-aggregator (buckets of <see cref="BucketSize"/> for bucketing).</summary>
    public static IRobustRule WithPreAggregator(string name, IRobustRule rule, int f = 0, int seed = 0) => name.ToLowerInvariant() switch
    {
        "bucketing" => new PreAggregatedRule(new Bucketing(BucketSize, seed), rule),
        "nnm" => new PreAggregatedRule(new NearestNeighbourMixing(f), rule),
        _ => throw new ArgumentException($"unknown pre-aggregator '{name}' (expected one of: {string.Join(", ", PreAggregatorNames)})"),
    };
}
