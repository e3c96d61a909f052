using Federated.Simulator.Experiments;

namespace Federated.Simulator.Reporting;

/// <summary>One method of an experiment (variant x sweep point) and its runs, one per seed, in run order.</summary>
public sealed record RunGroup(string Name, string Variant, string Point, IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> Runs,
    string Condition = "")
{
    public static IReadOnlyList<RunGroup> Of(IReadOnlyList<(ExperimentRun Run, IReadOnlyList<RoundMetrics> Rows)> results) =>
        results.GroupBy(r => r.Run.Group)
            .Select(g => new RunGroup(g.Key, g.First().Run.Variant, g.First().Run.Point, g.ToList(), g.First().Run.Condition))
            .ToList();

    /// <summary>The method without its condition: the variant and any sweep values (a row of the by-condition tables).</summary>
    public string Method => string.Join(" ", new[] { Variant, Point[Math.Min(Condition.Length, Point.Length)..].Trim() }.Where(s => s.Length > 0));

    public MeanSd Summary(Func<IReadOnlyList<RoundMetrics>, double> metric) => SeedStatistics.Summarise(Runs.Select(r => metric(r.Rows)));

    /// <summary>
    /// The paired interval of this method's metric minus <paramref name="reference"/>'s over the seeds both measured (a
    /// metric one of them lacks, NaN, pairs nothing), and how many seeds that is.
    /// </summary>
    public (PairedInterval? Interval, int Seeds) Paired(RunGroup reference, Func<IReadOnlyList<RoundMetrics>, double> metric)
    {
        var pairs = Runs.Join(reference.Runs, r => r.Run.Settings.Seed, r => r.Run.Settings.Seed, (m, r) => (metric(m.Rows), metric(r.Rows)))
            .Where(p => !double.IsNaN(p.Item1) && !double.IsNaN(p.Item2)).ToList();
        return (SeedStatistics.Paired(pairs), pairs.Count);
    }
}
