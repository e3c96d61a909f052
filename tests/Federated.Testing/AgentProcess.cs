using System.Diagnostics;
using System.Text;

namespace Federated.Testing;

/// <summary>The built <c>fed-agent</c> (fed-agent.dll beside the tests) run as a real process in its own working directory.</summary>
public sealed class AgentProcess : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();

    AgentProcess(string workingDirectory, string[] args, IDictionary<string, string?>? environment)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "fed-agent.dll"), .. args])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Several agents share the test machine's cores: one thread each keeps them from thrashing.
        psi.Environment["OMP_NUM_THREADS"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>()) psi.Environment[key] = value;
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static AgentProcess Start(string workingDirectory, string[] args, IDictionary<string, string?>? environment = null) =>
        new(workingDirectory, args, environment);

    void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>stdout and stderr, interleaved as they arrived.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }
    public string[] Lines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    public bool HasExited => _process.HasExited;
    /// <summary>The agent's own process (dotnet runs the dll in-process): its /proc entry holds its memory use.</summary>
    public int Id => _process.Id;

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fed-agent did not exit within {timeout}; output:\n{Output}");
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits for a line containing <paramref name="text"/>; fails with the output if the process exits first or time runs out.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line) return line;
            if (_process.HasExited)
                throw new InvalidOperationException($"fed-agent exited with {_process.ExitCode} before printing '{text}':\n{Output}");
            await Task.Delay(50);
        }
        throw new TimeoutException($"fed-agent did not print '{text}' within {timeout}:\n{Output}");
    }

    /// <summary>What Ctrl-C in a container or an orchestrator sends: SIGTERM.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>A crash: SIGKILL, no chance to clean up.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
