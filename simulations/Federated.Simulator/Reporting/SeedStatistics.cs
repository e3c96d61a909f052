using MathNet.Numerics.Distributions;

namespace Federated.Simulator.Reporting;

/// <summary>A metric over seeds: its mean and sample standard deviation (n - 1); Sd is NaN for fewer than two seeds.</summary>
public sealed record MeanSd(double Mean, double Sd, int N);

/// <summary>
/// The paired 95% t interval of a difference (method - reference) over seeds: mean(d) ± t(0.975, n-1) · sd(d) / sqrt(n).
/// A difference is called one only when the interval excludes zero (<see cref="ExcludesZero"/>).
/// </summary>
public sealed record PairedInterval(double Mean, double Lower, double Upper, int N)
{
    public bool ExcludesZero => Lower > 0 || Upper < 0;
}

/// <summary>Statistics across an experiment's seeds.</summary>
public static class SeedStatistics
{
    /// <summary>NaN values (a run that never reached the metric) are left out.</summary>
    public static MeanSd Summarise(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).ToArray();
        if (v.Length == 0) return new MeanSd(double.NaN, double.NaN, 0);
        double mean = v.Average();
        double sd = v.Length < 2 ? double.NaN : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
        return new MeanSd(mean, sd, v.Length);
    }

    /// <param name="pairs">(method, reference) per seed both ran; pairs with a NaN are left out.</param>
    /// <returns>Null with fewer than two pairs: one pair has no spread to estimate.</returns>
    public static PairedInterval? Paired(IEnumerable<(double Method, double Reference)> pairs)
    {
        var d = pairs.Where(p => !double.IsNaN(p.Method) && !double.IsNaN(p.Reference)).Select(p => p.Method - p.Reference).ToArray();
        if (d.Length < 2) return null;
        var summary = Summarise(d);
        double half = StudentT.InvCDF(0, 1, d.Length - 1, 0.975) * summary.Sd / Math.Sqrt(d.Length);
        return new PairedInterval(summary.Mean, summary.Mean - half, summary.Mean + half, d.Length);
    }
}
