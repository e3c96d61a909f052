namespace Federated.IO;

/// <summary>
/// Entry point for the durability calls (<see cref="ISystemCalls"/>): the operating system's, or within a
/// <see cref="Use"/> scope a substitute.
/// </summary>
public static class FileSystemSync
{
    // Async-local, not a static field: tests run in parallel, and one test's substitute must not see another's calls.
    static readonly AsyncLocal<ISystemCalls?> Substitute = new();

    /// <summary>The operating system's calls (libc; on Windows the .NET equivalents).</summary>
    public static ISystemCalls OperatingSystem { get; } = new LibcSystemCalls();

    static ISystemCalls Calls => Substitute.Value ?? OperatingSystem;

    /// <summary>Routes the calls of this flow of execution (and what it starts) to <paramref name="calls"/> until disposed.</summary>
    public static IDisposable Use(ISystemCalls calls)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var previous = Substitute.Value;
        Substitute.Value = calls;
        return new Scope(previous);
    }

    sealed class Scope(ISystemCalls? previous) : IDisposable
    {
        public void Dispose() => Substitute.Value = previous;
    }

    /// <inheritdoc cref="ISystemCalls.FlushFile"/>
    public static void FlushFile(FileStream file) => Calls.FlushFile(file);

    /// <inheritdoc cref="ISystemCalls.TryRename"/>
    public static bool TryRename(string source, string destination) => Calls.TryRename(source, destination);

    /// <summary>Renames <paramref name="source"/> over <paramref name="destination"/> atomically; both must be on one file system.</summary>
    /// <exception cref="IOException">They are not, or the rename failed.</exception>
    public static void Rename(string source, string destination)
    {
        if (!TryRename(source, destination))
            throw new IOException($"cannot rename {source} to {destination}: they are on different file systems");
    }

    /// <inheritdoc cref="ISystemCalls.FlushDirectory"/>
    public static void FlushDirectory(string directory) => Calls.FlushDirectory(directory);

    /// <inheritdoc cref="ISystemCalls.CanSyncFileSystem"/>
    public static bool CanSyncFileSystem => Calls.CanSyncFileSystem;

    /// <inheritdoc cref="ISystemCalls.SyncFileSystem"/>
    public static void SyncFileSystem(string path) => Calls.SyncFileSystem(path);
}
