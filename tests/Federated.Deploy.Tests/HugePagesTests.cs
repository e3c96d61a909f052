using System.Diagnostics;

namespace Federated.Deploy.Tests;

/// <summary>
/// Processes that aggregate run with glibc's heap on transparent huge pages (GLIBC_TUNABLES, read at process start): the
/// images set it, and deploy/env.sh's use_huge_pages sets it for the scripts unless the caller chose a value, even an empty one.
/// </summary>
public class HugePagesTests
{
    const string HugePages = "glibc.malloc.hugetlb=1";

    [Theory]
    [InlineData("coordinator.Dockerfile")]
    [InlineData("agent.Dockerfile")]
    public void The_images_run_glibc_heap_on_huge_pages(string dockerfile) =>
        Assert.Contains($"GLIBC_TUNABLES={HugePages}", File.ReadAllText(Repository.PathOf("deploy", dockerfile)));

    /// <summary>
    /// The coordinator also runs on one malloc arena (NativeAllocator.CoordinatorTunables: its memory stays flat round after
    /// round); the agent, which trains, keeps glibc's arenas (on one, libtorch's threads wait on its lock).
    /// </summary>
    [Theory]
    [InlineData("coordinator.Dockerfile", true)]
    [InlineData("agent.Dockerfile", false)]
    public void Only_the_coordinator_image_runs_on_one_malloc_arena(string dockerfile, bool oneArena) =>
        Assert.Equal(oneArena, File.ReadAllText(Repository.PathOf("deploy", dockerfile)).Contains($"GLIBC_TUNABLES={HugePages}:glibc.malloc.arena_max=1", StringComparison.Ordinal));

    [Theory]
    [InlineData(null, HugePages)]
    [InlineData("", "")]
    [InlineData("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2")]
    public void Use_huge_pages_sets_the_tunable_unless_the_caller_chose_one(string? callers, string expected) =>
        Assert.Equal(expected, TunablesAfterUseHugePages(callers));

    [Theory]
    [InlineData("benchmark.sh")]
    [InlineData("quickstart.sh")]
    [InlineData("experiments.sh")]
    public void Scripts_that_aggregate_call_use_huge_pages(string script) =>
        Assert.Contains(File.ReadLines(Repository.PathOf("deploy", script)), line => line.Trim() == "use_huge_pages");

    static string TunablesAfterUseHugePages(string? callers)
    {
        var start = new ProcessStartInfo("bash", ["-c", $"source '{Repository.PathOf("deploy", "env.sh")}' && use_huge_pages && printf '%s' \"$GLIBC_TUNABLES\""])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("GLIBC_TUNABLES");
        if (callers is not null) start.Environment["GLIBC_TUNABLES"] = callers;
        using var bash = Process.Start(start)!;
        string output = bash.StandardOutput.ReadToEnd();
        bash.WaitForExit();
        Assert.Equal(0, bash.ExitCode);
        return output;
    }
}
