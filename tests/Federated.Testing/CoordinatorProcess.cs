using System.Diagnostics;
using System.Text;

namespace Federated.Testing;

/// <summary>The built coordinator (Federated.Coordinator.dll, copied beside the tests) run as a real process.</summary>
public sealed class CoordinatorProcess : IDisposable
{
    readonly System.Diagnostics.Process _process;
    readonly StringBuilder _stdout = new(), _stderr = new();

    CoordinatorProcess(string[] args, IDictionary<string, string?> environment)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Federated.Coordinator.dll"), .. args])
        {
            // The content root, where appsettings.json is, is the working directory (ASP.NET's default).
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment)
            psi.Environment[key] = value;
        _process = new System.Diagnostics.Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static CoordinatorProcess Start(string[] args, IDictionary<string, string?>? environment = null) =>
        new(args, environment ?? new Dictionary<string, string?>());

    public string Output { get { lock (_stdout) return _stdout.ToString(); } }
    public string Error { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Waits for the process to exit by itself; kills it and fails after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the coordinator did not exit within {timeout}; output:\n{Output}{Error}");
        }
        _process.WaitForExit(); // flushes the redirected streams
        return _process.ExitCode;
    }

    /// <summary>Polls <paramref name="url"/> until it answers 200, or fails with the process output.</summary>
    public async Task WaitUntilServingAsync(string url, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"the coordinator exited with {_process.ExitCode}:\n{Output}{Error}");
            try
            {
                if ((await http.GetAsync(url)).IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{url} did not answer within {timeout}:\n{Output}{Error}");
    }

    /// <summary>Stops the process the way an orchestrator does (SIGTERM) and waits for a clean exit.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        return await WaitForExitAsync(timeout);
    }

    /// <summary>A crash: SIGKILL, no shutdown, no leaving the cluster.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public bool HasExited => _process.HasExited;

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
