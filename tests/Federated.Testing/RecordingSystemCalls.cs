using System.Collections.Concurrent;

using Federated.IO;

namespace Federated.Testing;

public enum SystemCallKind { FlushFile, Rename, FlushDirectory, SyncFileSystem }

/// <param name="Path">The file or directory; for a rename, its source.</param>
public sealed record SystemCall(SystemCallKind Kind, string Path, string? Destination = null);

/// <summary>
/// The test double of <see cref="ISystemCalls"/>: records every call, then makes it on the operating system (so files
/// really move), unless <see cref="Fail"/> picks it, which throws instead. Shared with the test projects whose code
/// writes durably; install it with <see cref="FileSystemSync.Use"/>.
/// </summary>
public sealed class RecordingSystemCalls : ISystemCalls
{
    readonly ConcurrentQueue<SystemCall> _calls = new();

    /// <summary>Calls for which an <see cref="IOException"/> is thrown instead of making them.</summary>
    public Func<SystemCall, bool> Fail { get; init; } = _ => false;

    public IReadOnlyList<SystemCall> Calls => [.. _calls];

    static ISystemCalls System => FileSystemSync.OperatingSystem;

    public void FlushFile(FileStream file)
    {
        Record(new(SystemCallKind.FlushFile, file.Name));
        System.FlushFile(file);
    }

    public bool TryRename(string source, string destination)
    {
        Record(new(SystemCallKind.Rename, Path.GetFullPath(source), Path.GetFullPath(destination)));
        return System.TryRename(source, destination);
    }

    public void FlushDirectory(string directory)
    {
        Record(new(SystemCallKind.FlushDirectory, Path.GetFullPath(directory)));
        System.FlushDirectory(directory);
    }

    public bool CanSyncFileSystem => System.CanSyncFileSystem;

    public void SyncFileSystem(string path)
    {
        Record(new(SystemCallKind.SyncFileSystem, Path.GetFullPath(path)));
        System.SyncFileSystem(path);
    }

    void Record(SystemCall call)
    {
        _calls.Enqueue(call);
        if (Fail(call)) throw new IOException($"injected failure of {call}");
    }

    /// <summary>
    /// Asserts that <paramref name="target"/> was replaced durably: a file beside it flushed, then renamed over it, then the
    /// target's directory flushed, with nothing else touching those files in between.
    /// </summary>
    public void AssertReplacedDurably(string target)
    {
        target = Path.GetFullPath(target);
        string directory = Path.GetDirectoryName(target)!;
        var calls = Calls.ToList();
        int rename = calls.FindLastIndex(c => c.Kind == SystemCallKind.Rename && c.Destination == target);
        Assert.True(rename > 0, $"no rename over {target} after a flush among: {string.Join("; ", calls)}");
        var flush = calls[rename - 1];
        Assert.Equal(new SystemCall(SystemCallKind.FlushFile, calls[rename].Path), flush);
        Assert.Equal(directory, Path.GetDirectoryName(flush.Path));
        Assert.True(rename + 1 < calls.Count, $"the directory was not flushed after the rename over {target}");
        Assert.Equal(new SystemCall(SystemCallKind.FlushDirectory, directory), calls[rename + 1]);
    }
}
