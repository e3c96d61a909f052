using System.Diagnostics;
using System.Globalization;

namespace Federated.Benchmarks.Security;

/// <summary>What an attack cost the attacked process: peak resident growth over the baseline before it, and CPU time.</summary>
/// <param name="BaselineBytes">VmRSS just before the attack.</param>
/// <param name="PeakBytes">The highest VmRSS sampled during the attack and the settle period after it.</param>
/// <param name="Exited">The process was gone before the end (killed for memory, crashed): the numbers stop there.</param>
/// <param name="Elapsed">How long the process was watched: the attack and its settle period.</param>
sealed record Measurement(long BaselineBytes, long PeakBytes, double CpuSeconds, int Samples, bool Exited, TimeSpan Elapsed)
{
    /// <summary>
    /// For an attack run twice on one process: the first run's cost. That one also pays for JIT-compiling the refusal
    /// paths at their optimised tier (the runtime recompiles a method once it has run about 30 times); the second is
    /// the attack's cost to a coordinator that has been up a while.
    /// </summary>
    public Measurement? First { get; init; }

    public long GrowthBytes => Math.Max(0, PeakBytes - BaselineBytes);
    public double GrowthMiB => GrowthBytes / 1048576.0;
}

/// <summary>
/// Samples a process's /proc files while an attack runs: VmRSS every ~10 ms (a 1 s spike is seen, an average would hide
/// it) and utime + stime from /proc/&lt;pid&gt;/stat before and after.
/// </summary>
sealed class ProcessProbe(int pid)
{
    /// <summary>USER_HZ: the kernel reports CPU times in these ticks; 100 on every Linux this runs on.</summary>
    const double TicksPerSecond = 100;
    static readonly TimeSpan SampleEvery = TimeSpan.FromMilliseconds(10);

    public int Pid => pid;

    /// <summary>VmRSS in bytes; null once the process is gone.</summary>
    public long? Rss
    {
        get
        {
            try { return ReadKb("VmRSS:") * 1024; }
            catch (IOException) { return null; }
        }
    }

    /// <summary>VmHWM (the peak resident set since start) in bytes; null once the process is gone.</summary>
    public long? PeakRss
    {
        get
        {
            try { return ReadKb("VmHWM:") * 1024; }
            catch (IOException) { return null; }
        }
    }

    /// <summary>utime + stime, seconds; null once the process is gone.</summary>
    public double? CpuSeconds
    {
        get
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                // The command name (field 2) may hold spaces: count fields from after its closing parenthesis (field 3 on).
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
            }
            catch (IOException) { return null; }
        }
    }

    /// <summary>
    /// Waits until the process is quiet: under <paramref name="busy"/> of a core over a whole second (at most
    /// <paramref name="limit"/>). What a set-up started (tiered JIT recompiling hot methods, GC, timers) then costs the
    /// baseline, not the attack: with a fixed 1 s pause the idle control still spent 1.5 s of CPU in 9 s, after this 0.4 s.
    /// </summary>
    public async Task WaitQuietAsync(double busy = 0.05, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(20));
        double before = CpuSeconds ?? 0;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(1000);
            double now = CpuSeconds ?? 0;
            if (now - before < busy) return;
            before = now;
        }
    }

    /// <summary>Runs <paramref name="attack"/> and then waits <paramref name="settle"/>, sampling throughout.</summary>
    public async Task<(T Result, Measurement Cost)> MeasureAsync<T>(Func<Task<T>> attack, TimeSpan settle)
    {
        long baseline = Rss ?? throw new InvalidOperationException($"process {pid} exited before the attack");
        double cpuBefore = CpuSeconds ?? 0;
        long peak = baseline;
        int samples = 0;
        bool exited = false;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (Rss is not { } rss) { exited = true; return; }
                peak = Math.Max(peak, rss);
                samples++;
                Thread.Sleep(SampleEvery);
            }
        }, TaskCreationOptions.LongRunning);
        T result;
        double cpuAfter;
        var watch = Stopwatch.StartNew();
        try
        {
            result = await attack();
            await Task.Delay(settle);
        }
        finally
        {
            cpuAfter = CpuSeconds ?? cpuBefore; // a process that died takes its CPU count with it
            stop.Cancel();
            await sampler;
        }
        return (result, new Measurement(baseline, peak, Math.Max(0, cpuAfter - cpuBefore), samples, exited || Rss is null, watch.Elapsed));
    }

    long ReadKb(string field) =>
        File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal)) is { } line
            ? long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture)
            : throw new IOException($"/proc/{pid}/status has no {field}");

    public static ProcessProbe Of(Process process) => new(process.Id);
}
