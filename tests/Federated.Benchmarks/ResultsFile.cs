using System.Runtime.InteropServices;
using System.Text;
using Federated.Benchmarks.Coordinator;

namespace Federated.Benchmarks;

/// <summary>Appends a measured driver's report to RESULTS.md under its heading, stamped with the date and the machine.</summary>
static class ResultsFile
{
    /// <param name="heading">The section, e.g. "Coordinator rounds (`deploy/benchmark.sh coordinator`)"; added once.</param>
    /// <param name="stack">What else the numbers depend on, e.g. "Orleans 10.4.2".</param>
    public static void Append(string heading, string stack, string report)
    {
        var dir = new DirectoryInfo(Directory.GetCurrentDirectory());
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Federated.sln"))) dir = dir.Parent;
        if (dir is null)
        {
            Console.WriteLine("(not run from the repository: RESULTS.md not updated)");
            return;
        }
        string path = Path.Combine(dir.FullName, "tests", "Federated.Benchmarks", "RESULTS.md");
        string existing = File.ReadAllText(path);
        var text = new StringBuilder(existing.TrimEnd()).AppendLine().AppendLine();
        if (!existing.Contains("\n## " + heading, StringComparison.Ordinal))
            text.AppendLine("## " + heading).AppendLine();
        text.AppendLine($"### {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Machine()}, {stack}").AppendLine();
        text.Append(report);
        File.WriteAllText(path, text.ToString());
        Console.WriteLine($"appended to {path}");
    }

    static string Machine()
    {
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        long memory = ProcessMemory.Read("/proc/meminfo", "MemTotal:");
        // glibc's tunables (huge pages for the heap: deploy/env.sh) change what the measured processes spend on memory.
        string tunables = Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 } value ? $", GLIBC_TUNABLES={value}" : "";
        return FormattableString.Invariant($"{cpu}, {Environment.ProcessorCount} cores, {memory / (1L << 30)} GiB, {RuntimeInformation.FrameworkDescription}{tunables}");
    }
}
