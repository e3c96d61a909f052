namespace Federated.Training.Evaluation;

/// <summary>
/// A proportion (an accuracy) with its 95% Wilson score interval (Wilson 1927): unlike the normal approximation
/// p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and keeps its coverage near 0 and 1 and for small n.
/// center = (p + z²/2n) / (1 + z²/n), half-width = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²), z = Φ⁻¹(0.975).
/// </summary>
public sealed record ProportionEstimate(int Successes, int Trials)
{
    /// <summary>Φ⁻¹(0.975), the standard normal quantile of a two-sided 95% interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>Successes / trials; NaN without trials.</summary>
    public double Value => Trials == 0 ? double.NaN : (double)Successes / Trials;

    public double Lower => Wilson(Successes, Trials, Z95).Lower;

    public double Upper => Wilson(Successes, Trials, Z95).Upper;

    /// <returns>The interval; (NaN, NaN) without trials.</returns>
    public static (double Lower, double Upper) Wilson(int successes, int trials, double z)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(successes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(successes, trials);
        if (trials == 0)
            return (double.NaN, double.NaN);
        double n = trials, p = successes / n, z2 = z * z;
        var denominator = 1 + z2 / n;
        var center = (p + z2 / (2 * n)) / denominator;
        var half = z / denominator * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n));
        // At p = 0 or 1 a bound is exactly 0 or 1; rounding would leave it a hair inside and the estimate outside.
        return (successes == 0 ? 0 : Math.Max(0, center - half), successes == trials ? 1 : Math.Min(1, center + half));
    }

    public static ProportionEstimate operator +(ProportionEstimate a, ProportionEstimate b) =>
        new(a.Successes + b.Successes, a.Trials + b.Trials);
}
