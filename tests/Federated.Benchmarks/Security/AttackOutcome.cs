namespace Federated.Benchmarks.Security;

/// <summary>How an attack went, before its cost is weighed.</summary>
public enum Verdict
{
    /// <summary>Every malicious request was refused with the expected status.</summary>
    Refused,

    /// <summary>Accepted, but its effect stayed within what it should (e.g. the held downloads cost a bounded amount).</summary>
    Bounded,

    /// <summary>Not refused, or refused the wrong way, or its effect was not bounded: <see cref="AttackOutcome.Why"/> says which.</summary>
    Failed,
}

/// <summary>What the attacker observed (counts per status or code, and any check's result) and the verdict on it.</summary>
sealed record AttackOutcome(string Observed, Verdict Verdict, string? Why = null)
{
    public static AttackOutcome Refused(string observed) => new(observed, Verdict.Refused);
    public static AttackOutcome Bounded(string observed) => new(observed, Verdict.Bounded);
    public static AttackOutcome Failed(string observed, string why) => new(observed, Verdict.Failed, why);

    /// <summary>Refused when <paramref name="refused"/>, else failed saying <paramref name="why"/>.</summary>
    public static AttackOutcome RefusedIf(bool refused, string observed, string why) => refused ? Refused(observed) : Failed(observed, why);
}

/// <summary>One row of the report: the outcome, and what it cost the attacked process.</summary>
/// <param name="IdleCpuSeconds">
/// What the process would have spent doing nothing for as long (the idle control's rate, measured in the same run, times
/// <see cref="Measurement.Elapsed"/>): timers, GC. The attack's own CPU is the rest.
/// </param>
sealed record AttackResult(string Name, string Expected, string Target, AttackOutcome Outcome, Measurement? Cost, string? Error = null, double IdleCpuSeconds = 0)
{
    public const double MaxGrowthMiB = 100, MaxCpuSeconds = 1;

    /// <summary>CPU the attack caused: the process's, less its idle share.</summary>
    public double AttackCpuSeconds => Cost is { } c ? Math.Max(0, c.CpuSeconds - IdleCpuSeconds) : 0;

    public bool WithinTargets => Cost is { Exited: false } c && c.GrowthMiB < MaxGrowthMiB && AttackCpuSeconds < MaxCpuSeconds;

    /// <summary>REFUSED or BOUNDED only when the outcome is and the cost is within the targets; else FAILED and why.</summary>
    public string FinalVerdict
    {
        get
        {
            if (Error is not null) return $"FAILED (the attack could not run: {Error})";
            var problems = new List<string>();
            if (Outcome.Verdict == Verdict.Failed) problems.Add(Outcome.Why ?? "not refused");
            if (Cost is { Exited: true }) problems.Add("the attacked process died");
            else if (Cost is { } c)
            {
                if (c.GrowthMiB >= MaxGrowthMiB) problems.Add(FormattableString.Invariant($"RSS +{c.GrowthMiB:F0} MiB >= {MaxGrowthMiB} MiB"));
                if (AttackCpuSeconds >= MaxCpuSeconds) problems.Add(FormattableString.Invariant($"CPU {AttackCpuSeconds:F2} s >= {MaxCpuSeconds} s"));
            }
            return problems.Count > 0 ? $"FAILED ({string.Join("; ", problems)})" : Outcome.Verdict.ToString().ToUpperInvariant();
        }
    }

    public bool Passed => FinalVerdict is "REFUSED" or "BOUNDED";
}
