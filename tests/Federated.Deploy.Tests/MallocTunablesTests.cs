using System.Diagnostics;

namespace Federated.Deploy.Tests;

/// <summary>
/// Processes that aggregate run with glibc's heap on transparent huge pages and from one arena (GLIBC_TUNABLES, read at
/// process start): the images set it, and deploy/env.sh's use_malloc_tunables sets it for the scripts unless the caller
/// chose a value, even an empty one. The value is NativeAllocator.RecommendedTunables, the one the coordinator names when it
/// warns (tests/Federated.Coordinator.Tests checks that a coordinator started with it runs on one arena).
/// </summary>
public class MallocTunablesTests
{
    const string Tunables = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1";

    [Theory]
    [InlineData("coordinator.Dockerfile")]
    [InlineData("agent.Dockerfile")]
    public void The_images_run_glibc_malloc_with_the_tunables(string dockerfile) =>
        Assert.Contains($"GLIBC_TUNABLES={Tunables}", File.ReadAllText(Repository.PathOf("deploy", dockerfile)));

    [Theory]
    [InlineData(null, Tunables)]
    [InlineData("", "")]
    [InlineData("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2")]
    public void Use_malloc_tunables_sets_them_unless_the_caller_chose_some(string? callers, string expected) =>
        Assert.Equal(expected, TunablesAfterUse(callers));

    [Theory]
    [InlineData("benchmark.sh")]
    [InlineData("quickstart.sh")]
    [InlineData("experiments.sh")]
    public void Scripts_that_aggregate_call_use_malloc_tunables(string script) =>
        Assert.Contains(File.ReadLines(Repository.PathOf("deploy", script)), line => line.Trim() == "use_malloc_tunables");

    static string TunablesAfterUse(string? callers)
    {
        var start = new ProcessStartInfo("bash", ["-c", $"source '{Repository.PathOf("deploy", "env.sh")}' && use_malloc_tunables && printf '%s' \"$GLIBC_TUNABLES\""])
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
