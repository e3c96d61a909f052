namespace Federated.Benchmarks;

/// <summary>Memory figures of this process and its children, from /proc and the GC.</summary>
static class ProcessMemory
{
    /// <summary>A "kB" line of a /proc status file, in bytes (0 when absent).</summary>
    public static long Read(string statusFile, string field) =>
        File.ReadLines(statusFile).FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal)) is { } line
            ? long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024
            : 0;

    public static long PeakWorkingSet => Read("/proc/self/status", "VmHWM:");
    public static long WorkingSet => Read("/proc/self/status", "VmRSS:");

    /// <summary>Managed heap after a full blocking, compacting collection.</summary>
    public static long ManagedAfterGc()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
