using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Federated.Benchmarks.Security;

/// <summary>A .NET program built beside the suite (a dll in its output folder) run with <c>dotnet</c>, its output kept line by line.</summary>
sealed class ChildProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly List<string> _lines = [];

    ChildProcess(Process process) => _process = process;

    public static ChildProcess Start(string dll, IEnumerable<string> args, string workingDirectory, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, dll), .. args])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        var child = new ChildProcess(new Process { StartInfo = psi });
        child._process.OutputDataReceived += (_, e) => child.Append(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    void Append(string? line)
    {
        if (line is null) return;
        lock (_lines) _lines.Add(line);
    }

    public ProcessProbe Probe => new(_process.Id);
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>stdout and stderr lines, as they arrived.</summary>
    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToArray(); } }
    public string Tail(int lines = 40) => string.Join('\n', Lines.TakeLast(lines));

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first: a coordinator or agent shuts down cleanly; then kill what is left.
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])) await term.WaitForExitAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await _process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        _process.Dispose();
    }

    public override string ToString()
    {
        var s = new StringBuilder();
        foreach (var line in Lines.TakeLast(20)) s.AppendLine(line);
        return s.ToString();
    }
}
