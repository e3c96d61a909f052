using System.Diagnostics;
using System.Globalization;

namespace Federated.Benchmarks.Security;

/// <summary>What an attack cost the attacked process: peak resident growth over the baseline before it, and CPU time.</summary>
/// <param name="BaselineBytes">VmRSS just before the attack.</param>
/// <param name="PeakBytes">The highest VmRSS sampled during the attack and the settle period after it.</param>
/// <param name="Exited">The process was gone before the end (killed for memory, crashed): the numbers stop there.</param>
sealed record Measurement(long BaselineBytes, long PeakBytes, double CpuSeconds, int Samples, bool Exited)
{
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
        return (result, new Measurement(baseline, peak, Math.Max(0, cpuAfter - cpuBefore), samples, exited || Rss is null));
    }

    long ReadKb(string field) =>
        File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal)) is { } line
            ? long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture)
            : throw new IOException($"/proc/{pid}/status has no {field}");

    public static ProcessProbe Of(Process process) => new(process.Id);
}
