using System.Diagnostics;
using StackExchange.Redis;

namespace Federated.Testing;

/// <summary>
/// A real redis-server on a free loopback port, started for the test run and killed after it
/// (deploy/test.sh installs Debian's redis-server). No persistence unless <see cref="DataDirectory"/> is set: every run starts empty.
/// </summary>
public sealed class RedisServer : IAsyncLifetime, IAsyncDisposable
{
    Process? _process;
    int _port;

    public IConnectionMultiplexer Connection { get; private set; } = null!;

    /// <summary>The StackExchange.Redis configuration string that reaches this server.</summary>
    public string Configuration { get; private set; } = "";

    /// <summary>
    /// When set, the server keeps an append-only file here, flushed on every write (<c>appendfsync
    /// always</c>), so what it acknowledged survives <see cref="CrashAndRestartAsync"/>.
    /// </summary>
    public string? DataDirectory { get; init; }

    public async Task InitializeAsync()
    {
        _port = FreePorts.Loopback();
        await StartAsync();
    }

    async Task StartAsync()
    {
        string[] persistence = DataDirectory is null
            ? ["--save", "", "--appendonly", "no"]
            : ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", DataDirectory];
        var psi = new ProcessStartInfo("redis-server", ["--port", _port.ToString(), "--bind", "127.0.0.1", .. persistence])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        try { _process = Process.Start(psi); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not installed (deploy/test.sh installs it: apt-get install redis-server)", e);
        }
        _process!.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                Configuration = $"127.0.0.1:{_port}";
                Connection = await ConnectionMultiplexer.ConnectAsync($"{Configuration},abortConnect=true,connectTimeout=1000,allowAdmin=true");
                // A restarted server accepts connections while it reloads its append-only file, and answers LOADING until then.
                while (await IsLoadingAsync() && DateTime.UtcNow < deadline) await Task.Delay(50);
                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    async Task<bool> IsLoadingAsync()
    {
        var info = await Connection.GetServer(Connection.GetEndPoints()[0]).InfoAsync("persistence");
        return info.SelectMany(g => g).Any(p => p.Key == "loading" && p.Value != "0");
    }

    /// <summary>The server's process id (benchmarks read its peak resident set from /proc).</summary>
    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("redis-server is not running");

    /// <summary>A field of <c>INFO memory</c>, e.g. used_memory_peak (bytes).</summary>
    public async Task<long> MemoryInfoAsync(string field)
    {
        var server = Connection.GetServer(Connection.GetEndPoints()[0]);
        var info = await server.InfoAsync("memory");
        return info.SelectMany(g => g).Where(p => p.Key == field).Select(p => long.Parse(p.Value)).FirstOrDefault();
    }

    /// <summary>Kills the server (no clean shutdown) and starts it again on the same port and data; <see cref="Connection"/> is a new multiplexer.</summary>
    public async Task CrashAndRestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    async Task StopAsync()
    {
        if (Connection is not null) await Connection.DisposeAsync();
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        _process = null;
    }

    public Task DisposeAsync() => StopAsync();

    /// <summary>For <c>await using</c> outside xunit (benchmarks).</summary>
    ValueTask IAsyncDisposable.DisposeAsync() => new(StopAsync());
}
