using System.Diagnostics;

namespace Federated.Benchmarks.Coordinator;

/// <summary>
/// The coordinator's runtime settings (Federated.Coordinator.csproj: server GC, no dynamic PGO, its large-object threshold),
/// for a benchmark child process that stands in for part of it, so the two are measured alike.
/// </summary>
static class CoordinatorRuntime
{
    public static ProcessStartInfo Apply(ProcessStartInfo start)
    {
        start.Environment["DOTNET_gcServer"] = "1";
        start.Environment["DOTNET_TieredPGO"] = "0";
        start.Environment["DOTNET_GCLOHThreshold"] = "0x100001";
        return start;
    }
}
