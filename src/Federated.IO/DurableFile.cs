namespace Federated.IO;

/// <summary>
/// Whole-file replacement that neither a crash nor a power loss can tear or undo: the bytes go to a temporary file
/// beside the target, which is flushed to disk, renamed over the target (atomic within a file system), and then the
/// directory is flushed, because the rename itself is only on disk once the directory is. A reader sees the old content
/// or the new, and once a write returns the new content stays.
/// </summary>
public static class DurableFile
{
    const int BufferBytes = 1 << 16;

    /// <param name="path">The target; its directory must exist.</param>
    /// <param name="write">Writes the whole content; an exception leaves the target as it was.</param>
    /// <param name="ownerOnly">Create the file readable and writable by its owner only (0600): it holds a secret.</param>
    public static void Write(string path, Action<Stream> write, bool ownerOnly = false)
    {
        ArgumentNullException.ThrowIfNull(write);
        string target = Path.GetFullPath(path), temporary = TemporaryFor(target);
        try
        {
            using (var stream = Create(temporary, ownerOnly, FileOptions.None))
            {
                write(stream);
                FileSystemSync.FlushFile(stream);
            }
            Commit(temporary, target);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <inheritdoc cref="Write"/>
    public static void WriteBytes(string path, ReadOnlyMemory<byte> content, bool ownerOnly = false) =>
        Write(path, stream => stream.Write(content.Span), ownerOnly);

    /// <inheritdoc cref="Write"/>
    public static async Task WriteBytesAsync(string path, ReadOnlyMemory<byte> content, bool ownerOnly = false, CancellationToken cancellationToken = default)
    {
        string target = Path.GetFullPath(path), temporary = TemporaryFor(target);
        try
        {
            await using (var stream = Create(temporary, ownerOnly, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                FileSystemSync.FlushFile(stream);
            }
            Commit(temporary, target);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// The last two steps for a caller that wrote and flushed <paramref name="temporary"/> itself (a download, a staged
    /// upload): renames it over <paramref name="target"/>, which must be on the same file system, and flushes the
    /// target's directory.
    /// </summary>
    public static void Commit(string temporary, string target)
    {
        FileSystemSync.Rename(temporary, target);
        FileSystemSync.FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
    }

    // Same directory as the target, so the rename never crosses file systems; a unique name, so two writers never share one.
    static string TemporaryFor(string target) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");

    // Best effort: the original exception matters more, and a stray temporary file never has the target's name.
    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    static FileStream Create(string path, bool ownerOnly, FileOptions options)
    {
        var settings = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = BufferBytes, Options = options };
        if (ownerOnly && !OperatingSystem.IsWindows()) settings.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return new FileStream(path, settings);
    }
}
