using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Federated.Storage.Tests;

/// <summary>
/// A real redis-server on a free loopback port, started for the test run and killed after it
/// (deploy/test.sh installs Debian's redis-server). No persistence: every run starts empty.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    Process? _process;

    public IConnectionMultiplexer Connection { get; private set; } = null!;

    /// <summary>The StackExchange.Redis configuration string that reaches this server.</summary>
    public string Configuration { get; private set; } = "";

    public async Task InitializeAsync()
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
                Configuration = $"127.0.0.1:{port}";
                Connection = await ConnectionMultiplexer.ConnectAsync($"{Configuration},abortConnect=true,connectTimeout=1000");
                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (Connection is not null) await Connection.DisposeAsync();
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
    }
}
