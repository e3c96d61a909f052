using Federated.Training.Models;
using Federated.Training.Tokenization;

namespace Federated.Benchmarks.Security.Agent;

/// <summary>
/// A real <c>fed-agent</c> (fed-agent.dll beside the suite) pointed at a <see cref="MaliciousCoordinator"/>, in a sandbox folder
/// of its own: <c>model/</c> (the tiny preset, as <c>fed model init --preset tiny</c> writes it), <c>data.txt</c>, and
/// <c>work/state/</c>, its state directory. Everything in the sandbox outside the state directory is the agent's to leave alone.
/// </summary>
sealed class AttackedAgent : IAsyncDisposable
{
    public const string Federation = "hostile-federation";
    readonly ChildProcess _process;

    AttackedAgent(ChildProcess process, string sandbox) => (_process, Sandbox) = (process, sandbox);

    public string Sandbox { get; }
    public string StateDirectory => Path.Combine(Sandbox, "work", "state");
    public ProcessProbe Probe => _process.Probe;
    public bool HasExited => _process.HasExited;
    public string Tail(int lines = 15) => _process.Tail(lines);

    /// <summary>How many of the agent's output lines contain <paramref name="text"/>.</summary>
    public int CountLines(string text) => _process.Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>The agent's last output line containing <paramref name="text"/> (e.g. why it gave up a round), shortened.</summary>
    public string? LastLine(string text) => _process.Lines.LastOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line
        ? (line.Length <= 160 ? line.Trim() : line.Trim()[..157] + "...") : null;

    /// <summary>A sandbox with the tiny model and data, ready for <see cref="Start"/> (separate, so sentinels can be placed first).</summary>
    public static string NewSandbox()
    {
        string sandbox = Directory.CreateTempSubdirectory("fed-security-agent-").FullName;
        string model = Directory.CreateDirectory(Path.Combine(sandbox, "model")).FullName;
        using (var tiny = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 0)) HfCheckpoint.Save(tiny, model);
        ByteLevelTokenizer.Instance.Save(model);
        string text = File.ReadAllText("/usr/share/common-licenses/GPL-3");
        File.WriteAllText(Path.Combine(sandbox, "data.txt"), text[..Math.Min(6000, text.Length)]);
        Directory.CreateDirectory(Path.Combine(sandbox, "work", "state"));
        return sandbox;
    }

    public static AttackedAgent Start(string sandbox, Uri coordinator)
    {
        var process = ChildProcess.Start("fed-agent.dll",
        [
            "--coordinator", coordinator.ToString(), "--federation", Federation, "--token", "hostile-coordinator-token-0123456789",
            "--state", Path.Combine(sandbox, "work", "state"), "--model", Path.Combine(sandbox, "model"), "--data", Path.Combine(sandbox, "data.txt"),
            "--max-seq-len", "32", "--threads", "1", "--Agent:PollInterval=00:00:01", "--Agent:HeartbeatInterval=00:00:30",
        ], Path.Combine(sandbox, "work"), new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" });
        return new AttackedAgent(process, sandbox);
    }

    /// <summary>Every file in the sandbox outside the state directory: path, length and last write, to compare before and after.</summary>
    public Dictionary<string, (long Length, DateTime Written)> FilesOutsideState() =>
        Directory.EnumerateFiles(Sandbox, "*", SearchOption.AllDirectories)
            .Where(f => !f.StartsWith(StateDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(Sandbox, f), f => (new FileInfo(f).Length, File.GetLastWriteTimeUtc(f)));

    /// <summary>Bytes of every file under the sandbox (state included): what the agent wrote to disk.</summary>
    public long DiskBytes() => Directory.EnumerateFiles(Sandbox, "*", SearchOption.AllDirectories).Sum(f =>
    {
        try { return new FileInfo(f).Length; }
        catch (IOException) { return 0; }
    });

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try { Directory.Delete(Sandbox, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
