using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Federated.Benchmarks.Coordinator;

/// <summary>
/// A throw-away redis-server on a free loopback port without persistence, killed on dispose
/// (as tests/Federated.Storage.Tests/RedisServer.cs, without xunit).
/// </summary>
sealed class RedisProcess : IAsyncDisposable
{
    RedisProcess(Process process, string configuration, IConnectionMultiplexer connection)
    {
        Process = process;
        Configuration = configuration;
        Connection = connection;
    }

    public Process Process { get; }
    public string Configuration { get; }
    public IConnectionMultiplexer Connection { get; }

    public static async Task<RedisProcess> StartAsync()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var psi = new ProcessStartInfo("redis-server", ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server)", e);
        }
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string configuration = $"127.0.0.1:{port}";
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                var connection = await ConnectionMultiplexer.ConnectAsync($"{configuration},abortConnect=true,connectTimeout=1000,allowAdmin=true");
                return new RedisProcess(process, configuration, connection);
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>A field of <c>INFO memory</c>, e.g. used_memory_peak (bytes).</summary>
    public async Task<long> MemoryInfoAsync(string field)
    {
        var server = Connection.GetServer(Connection.GetEndPoints()[0]);
        var info = await server.InfoAsync("memory");
        return info.SelectMany(g => g).Where(p => p.Key == field).Select(p => long.Parse(p.Value)).FirstOrDefault();
    }

    /// <summary>redis-server's own peak resident set (VmHWM), bytes.</summary>
    public long PeakResidentBytes() => ProcessMemory.Read($"/proc/{Process.Id}/status", "VmHWM:");

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        if (!Process.HasExited)
        {
            Process.Kill();
            await Process.WaitForExitAsync();
        }
        Process.Dispose();
    }
}

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
