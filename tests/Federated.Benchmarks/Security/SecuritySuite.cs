using System.Globalization;
using System.Text;
using Federated.Benchmarks.Security.Agent;
using Federated.Benchmarks.Security.Coordinator;

namespace Federated.Benchmarks.Security;

/// <summary>
/// The repeatable attack suite of issue 15 (<c>deploy/benchmark.sh security [names...] [--strict]</c>): each attack against
/// fresh real processes (a coordinator, in cluster mode with a real redis-server where Redis is the point; a real fed-agent
/// facing a hostile coordinator), reporting what the attacker saw, the verdict, and the attacked process's peak RSS growth
/// and CPU time. Targets: every attack refused or bounded, growth under 100 MiB and CPU under 1 s. The table is printed and
/// appended to RESULTS.md. Exit code 0 (it is a report), unless <c>--strict</c> and an attack missed its target.
/// </summary>
static class SecuritySuite
{
    public static IReadOnlyList<SecurityAttack> Attacks { get; } =
    [
        IdleControl.Attack,
        AdminAnonymousAttack.Attack,
        BombAttack.Attack,
        PatternCpuAttack.Attack,
        UploadsPerClientAttack.Attack,
        AbandonedUploadAttack.Attack,
        StalledDownloadsAttack.Attack,
        SybilAttack.Attack,
        UnauthenticatedFloodAttack.Attack,
        LogInjectionAttack.Attack,
        InflatedExamplesAttack.Attack,
        PathTraversalAttack.Attack,
        OversizedDownloadAttack.Attack,
        BombGlobalAttack.Attack,
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        bool strict = args.Contains("--strict");
        var names = args.Where(a => a != "--strict").ToList();
        var unknown = names.Except(Attacks.Select(a => a.Name)).ToList();
        if (unknown.Count > 0)
        {
            Console.Error.WriteLine($"error: unknown attack(s) {string.Join(", ", unknown)}; the attacks are {string.Join(", ", Attacks.Select(a => a.Name))}");
            return 2;
        }
        var chosen = names.Count == 0 ? Attacks : Attacks.Where(a => names.Contains(a.Name)).ToList();
        // The control comes first whenever a coordinator is attacked: its rate is every coordinator row's idle share.
        if (chosen.Any(a => a.Target == IdleControl.Attack.Target) && !chosen.Any(a => a.Name == IdleControl.Attack.Name))
            chosen = [IdleControl.Attack, .. chosen];
        double idlePerSecond = 0;
        var results = new List<AttackResult>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var attack in chosen)
        {
            Log($"{attack.Name}: {attack.Expected}");
            AttackResult result;
            try
            {
                var (outcome, cost) = await attack.RunAsync();
                if (attack.Name == IdleControl.Attack.Name) idlePerSecond = cost.CpuSeconds / cost.Elapsed.TotalSeconds;
                double idle = attack.Target == IdleControl.Attack.Target && attack.Name != IdleControl.Attack.Name ? idlePerSecond * cost.Elapsed.TotalSeconds : 0;
                result = new AttackResult(attack.Name, attack.Expected, attack.Target, outcome, cost, IdleCpuSeconds: idle);
            }
            catch (Exception e)
            {
                result = new AttackResult(attack.Name, attack.Expected, attack.Target, AttackOutcome.Failed("", "error"), null, $"{e.GetType().Name}: {FirstLine(e.Message)}");
                Log($"  {e}");
            }
            results.Add(result);
            Log(FormattableString.Invariant($"  {result.FinalVerdict}: {result.Outcome.Observed}; RSS +{result.Cost?.GrowthMiB ?? 0:F1} MiB, CPU {(result.Cost is { } spent ? Cpu(spent) : "-")} s, less {result.IdleCpuSeconds:F2} s idle"));
        }

        string report = Report(results, clock.Elapsed);
        Console.WriteLine();
        Console.WriteLine(report);
        ResultsFile.Append("Security attacks (`deploy/benchmark.sh security`)", "real coordinator and fed-agent processes on loopback, redis-server 7", report);
        int failed = results.Count(r => !r.Passed);
        return strict && failed > 0 ? 1 : 0;
    }

    static string Report(List<AttackResult> results, TimeSpan elapsed)
    {
        var s = new StringBuilder();
        s.AppendLine(FormattableString.Invariant(
            $"Each attack against fresh processes; RSS growth = peak VmRSS of the attacked process (sampled every 10 ms during the attack and a settle period) minus VmRSS just before; CPU = utime + stime over the same span. Attacks of thousands of calls run twice on one coordinator, from two source addresses, and the second run is judged: the first also pays for the runtime recompiling the refusal paths it makes hot (its CPU is shown in brackets). A coordinator's idle share is what the idle control spent per second, measured first in the same run, times the attack's span; attack CPU is the rest. Targets: refused or bounded, growth < {AttackResult.MaxGrowthMiB} MiB, attack CPU < {AttackResult.MaxCpuSeconds} s. {results.Count(r => r.Passed)} of {results.Count} met them; the suite took {elapsed.TotalSeconds:F0} s."));
        s.AppendLine();
        s.AppendLine("| attack | process | expected | observed | verdict | RSS growth MiB | CPU s | idle share s | attack CPU s |");
        s.AppendLine("|---|---|---|---|---|---:|---:|---:|---:|");
        foreach (var r in results)
            s.AppendLine(string.Join(" | ", "| " + r.Name, r.Target, Cell(r.Expected), Cell(r.Outcome.Observed), Cell(r.FinalVerdict),
                r.Cost is { } c ? c.GrowthMiB.ToString("F1", CultureInfo.InvariantCulture) : "-",
                r.Cost is { } d ? Cpu(d) : "-", r.IdleCpuSeconds.ToString("F2", CultureInfo.InvariantCulture),
                r.Cost is null ? "- |" : r.AttackCpuSeconds.ToString("F2", CultureInfo.InvariantCulture) + " |"));
        s.AppendLine();
        return s.ToString();
    }

    /// <summary>The judged run's CPU seconds, and the first run's where the attack ran twice.</summary>
    static string Cpu(Measurement m) => m.First is { } first
        ? FormattableString.Invariant($"{m.CpuSeconds:F2} (first run {first.CpuSeconds:F2})")
        : m.CpuSeconds.ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>Safe inside a Markdown table cell: one line, no pipes.</summary>
    static string Cell(string text) => text.Replace('|', '/').Replace('\n', ' ').Replace('\r', ' ');

    static string FirstLine(string text) => text.Split('\n')[0];

    static void Log(string message) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
