using Federated.Core.Runtime;
using Federated.Coordinator.Tests.Api;

namespace Federated.Coordinator.Tests.Process;

public sealed class CoordinatorProcessTests
{
    static readonly TimeSpan Exit = TimeSpan.FromSeconds(60);

    /// <summary>Everything the process wrote that is not blank, stdout and stderr together.</summary>
    static string[] Lines(CoordinatorProcess p) =>
        (p.Output + p.Error).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public async Task Cluster_mode_without_redis_exits_non_zero_with_one_readable_line()
    {
        using var p = CoordinatorProcess.Start(["--Coordinator:Mode=Cluster"]);
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        string line = Assert.Single(Lines(p));
        Assert.Contains("Coordinator:Redis is required in cluster mode", line);
        Assert.DoesNotContain(" at ", line);
    }

    [Fact]
    public async Task An_unknown_mode_exits_non_zero_with_one_line_naming_the_key_and_the_value()
    {
        using var p = CoordinatorProcess.Start([], new Dictionary<string, string?> { ["Coordinator__Mode"] = "Sharded" });
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        string line = Assert.Single(Lines(p));
        Assert.Contains("Coordinator:Mode", line);
        Assert.Contains("Sharded", line);
    }

    [Fact]
    public async Task A_plaintext_agents_endpoint_off_loopback_exits_non_zero_with_one_line_asking_for_https()
    {
        using var p = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Kestrel:Endpoints:grpc:Url=http://0.0.0.0:{CoordinatorHost.FreePort()}",
            "--Coordinator:InMemoryState=true",
        ]);
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        string line = Assert.Single(Lines(p));
        Assert.Contains("coordinator not started: Kestrel:Endpoints:grpc:Url is plaintext on 0.0.0.0", line);
        Assert.Contains("Kestrel:Endpoints:grpc:Certificate:Path and KeyPath", line);
    }

    [Fact]
    public async Task A_port_in_use_exits_non_zero_with_one_line_naming_the_address()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        using var p = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{port}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", "--Coordinator:InMemoryState=true",
            $"--Coordinator:DataDirectory={Path.Combine(Path.GetTempPath(), "fed-port-" + Guid.NewGuid().ToString("N"))}",
            $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
        ]);
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        var failures = Lines(p).Where(l => l.Contains("coordinator not started")).ToList();
        Assert.True(failures.Count == 1, string.Join('\n', Lines(p)));
        Assert.EndsWith($"coordinator not started: Failed to bind to address http://127.0.0.1:{port}: address already in use.", failures[0]);
    }

    [Fact]
    public async Task A_silo_port_in_use_exits_non_zero_with_one_line_pointing_at_the_port_settings()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        using var p = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", "--Coordinator:InMemoryState=true",
            $"--Coordinator:DataDirectory={Path.Combine(Path.GetTempPath(), "fed-port-" + Guid.NewGuid().ToString("N"))}",
            $"--Coordinator:SiloPort={port}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
        ]);
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        var failures = Lines(p).Where(l => l.Contains("coordinator not started")).ToList();
        Assert.True(failures.Count == 1, string.Join('\n', Lines(p)));
        Assert.Contains("Address already in use", failures[0]);
        Assert.Contains("Coordinator:SiloPort", failures[0]);
    }

    [Fact]
    public async Task A_coordinator_started_with_its_image_malloc_tunables_runs_on_one_arena()
    {
        var (serving, lines) = await StartedWithTunablesAsync(NativeAllocator.CoordinatorTunables);
        Assert.EndsWith("malloc arenas 1", serving);
        Assert.DoesNotContain(lines, l => l.Contains("arenas:"));
    }

    [Fact]
    public async Task A_coordinator_started_without_them_warns_that_it_has_several_arenas_and_names_the_tunables()
    {
        var (serving, lines) = await StartedWithTunablesAsync("");
        Assert.Matches("malloc arenas ([2-9]|[1-9][0-9]+)$", serving);
        var warning = Assert.Single(lines, l => l.Contains("arenas:"));
        Assert.Contains($"GLIBC_TUNABLES={NativeAllocator.CoordinatorTunables}", warning);
    }

    /// <summary>An embedded coordinator started with GLIBC_TUNABLES set to <paramref name="tunables"/>: its line once serving, and all it wrote then.</summary>
    static async Task<(string Serving, string[] Lines)> StartedWithTunablesAsync(string tunables)
    {
        int http = CoordinatorHost.FreePort();
        string data = Path.Combine(Path.GetTempPath(), "fed-arenas-" + Guid.NewGuid().ToString("N"));
        using var p = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{http}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", "--Coordinator:InMemoryState=true",
            $"--Coordinator:DataDirectory={data}", $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
        ], new Dictionary<string, string?> { ["GLIBC_TUNABLES"] = tunables });
        try
        {
            await p.WaitUntilServingAsync($"http://127.0.0.1:{http}/readyz", TimeSpan.FromSeconds(60));
            for (var wait = System.Diagnostics.Stopwatch.StartNew(); wait.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(50))
                if (Lines(p).FirstOrDefault(l => l.Contains("Coordinator serving on")) is { } line) return (line, Lines(p));
            throw new Xunit.Sdk.XunitException("no serving line: " + string.Join('\n', Lines(p)));
        }
        finally
        {
            await p.StopAsync(Exit);
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task The_coordinator_process_serves_health_and_metrics_and_stops_cleanly_on_SIGTERM()
    {
        int http = CoordinatorHost.FreePort();
        string data = Path.Combine(Path.GetTempPath(), "fed-proc-" + Guid.NewGuid().ToString("N"));
        using var p = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{http}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Coordinator:DataDirectory={data}",
            $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
        ]);
        try
        {
            await p.WaitUntilServingAsync($"http://127.0.0.1:{http}/readyz", TimeSpan.FromSeconds(60));
            using var client = new HttpClient();
            Assert.Equal("Healthy", await client.GetStringAsync($"http://127.0.0.1:{http}/healthz"));
            Assert.Contains("# TYPE", await client.GetStringAsync($"http://127.0.0.1:{http}/metrics"));
            Assert.Equal(0, await p.StopAsync(Exit));
        }
        finally
        {
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Cluster_mode_keeps_federations_in_a_real_redis_server_across_a_coordinator_restart()
    {
        var redis = new RedisServer();
        await redis.InitializeAsync();
        try
        {
            string[] args =
            [
                "--Coordinator:Mode=Cluster", $"--Coordinator:Redis={redis.Configuration}", "--Coordinator:AdvertisedAddress=127.0.0.1",
                $"--Coordinator:ClusterId=test-{Guid.NewGuid():N}", $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}",
                $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}", .. TestOperators.Args,
            ];
            string id = CoordinatorHost.NewId("redis");
            int http = CoordinatorHost.FreePort();
            string url = $"http://127.0.0.1:{http}";
            using (var first = CoordinatorProcess.Start([.. args, $"--Kestrel:Endpoints:http:Url={url}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}"]))
            {
                await first.WaitUntilServingAsync($"{url}/readyz", TimeSpan.FromSeconds(60));
                string model = BaseModelDirectory.Tiny(Directory.CreateTempSubdirectory("fed-process-").FullName);
                var (exit, _, err) = Fed("federation", "create", id, "--base-model", "m", "--base-model-dir", model, "--rounds", "2", "--coordinator", url, "--api-key", TestOperators.AdminKey);
                Directory.Delete(Path.GetDirectoryName(model)!, recursive: true);
                Assert.True(exit == 0, err);
                Assert.Equal(0, await first.StopAsync(Exit));
                Assert.All(first.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("{\"@t\":", l));
            }
            using var second = CoordinatorProcess.Start([.. args, $"--Kestrel:Endpoints:http:Url={url}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}"]);
            await second.WaitUntilServingAsync($"{url}/readyz", TimeSpan.FromSeconds(60));
            var show = Fed("federation", "show", id, "--json", "--coordinator", url, "--api-key", TestOperators.ViewerKey);
            Assert.True(show.Exit == 0, show.Err);
            Assert.Contains("\"rounds\": 2", show.Out);
            await second.StopAsync(Exit);
        }
        finally
        {
            await redis.DisposeAsync();
        }
    }

    static (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Federated.Cli.FedCommandLine.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Cluster_mode_with_redis_unreachable_logs_json_and_exits_with_one_fatal_line()
    {
        using var p = CoordinatorProcess.Start(["--Coordinator:Mode=Cluster", "--Coordinator:Redis=127.0.0.1:1,connectTimeout=200,abortConnect=true",
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", .. TestOperators.Args]);
        // Nothing listens on port 1: the silo cannot join, so the process logs and exits on its own.
        Assert.NotEqual(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        var lines = p.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.StartsWith("{\"@t\":", l));
        var fatal = Assert.Single(lines, l => l.Contains("\"@l\":\"Fatal\""));
        Assert.True(fatal.Contains("cannot reach Redis (Coordinator:Redis)"), fatal);
        Assert.DoesNotContain("\"@x\"", fatal);
    }
}
