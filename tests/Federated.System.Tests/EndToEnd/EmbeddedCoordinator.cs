using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// The coordinator as a process in embedded mode (state in memory, staging and store under <c>dir/coordinator</c>), and
/// the flags of an agent pointed at it; for the end-to-end tests that need one coordinator per test.
/// </summary>
public sealed class EmbeddedCoordinator : IAsyncDisposable
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90);
    readonly CoordinatorProcess _process;
    readonly string _dir;

    EmbeddedCoordinator(CoordinatorProcess process, Uri http, Uri grpc, string dir) =>
        (_process, Http, Admin, Grpc, _dir) = (process, http, new CoordinatorAdmin(http), grpc, dir);

    /// <summary>The admin API's address (<see cref="Admin"/> is a client of it).</summary>
    public Uri Http { get; }
    public CoordinatorAdmin Admin { get; }
    public Uri Grpc { get; }

    /// <param name="settings">More coordinator flags, e.g. <c>--Coordinator:MaxChunkBytes=1024</c>.</param>
    public static async Task<EmbeddedCoordinator> StartAsync(string dir, params string[] settings)
    {
        var (args, http, grpc) = CoordinatorAdmin.ProcessArgs(
            ["--Coordinator:InMemoryState=true", $"--Coordinator:DataDirectory={Path.Combine(dir, "coordinator")}", .. settings]);
        var process = CoordinatorProcess.Start(args);
        await process.WaitUntilServingAsync(new Uri(http, "/readyz").ToString(), Startup);
        return new EmbeddedCoordinator(process, http, grpc, dir);
    }

    /// <summary>Flags for an agent of <paramref name="federation"/> with its state in <c>dir/state</c>.</summary>
    public string[] AgentArgs(string federation, string model, string data, params string[] extra) =>
    [
        "--coordinator", Grpc.ToString(), "--federation", federation, "--token", CoordinatorAdmin.EnrollmentToken,
        "--state", Path.Combine(_dir, "state"), "--model", model, "--data", data, "--max-seq-len", "64",
        "--Agent:PollInterval=00:00:01", .. extra,
    ];

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await _process.StopAsync(TimeSpan.FromSeconds(60));
        _process.Dispose();
    }
}
