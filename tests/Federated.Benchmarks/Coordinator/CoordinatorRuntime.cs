using System.Diagnostics;
using Federated.Core.Runtime;

namespace Federated.Benchmarks.Coordinator;

/// <summary>
/// How the coordinator runs: its image's malloc tunables (<see cref="Environment"/>, for the real coordinator processes the
/// benchmarks start) and, for a benchmark child process that stands in for part of it, also its runtime settings
/// (Federated.Coordinator.csproj: server GC, no dynamic PGO, its large-object threshold), so the two are measured alike.
/// </summary>
static class CoordinatorRuntime
{
    /// <summary>The coordinator image's GLIBC_TUNABLES (one malloc arena, the heap on huge pages), whatever the benchmark's own.</summary>
    public static IDictionary<string, string> Environment { get; } = new Dictionary<string, string> { ["GLIBC_TUNABLES"] = NativeAllocator.CoordinatorTunables };

    public static ProcessStartInfo Apply(ProcessStartInfo start)
    {
        foreach (var (key, value) in Environment) start.Environment[key] = value;
        start.Environment["DOTNET_gcServer"] = "1";
        start.Environment["DOTNET_TieredPGO"] = "0";
        start.Environment["DOTNET_GCLOHThreshold"] = "0x100001";
        return start;
    }
}
