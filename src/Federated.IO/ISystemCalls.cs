namespace Federated.IO;

/// <summary>
/// The calls durability rests on. <see cref="FileSystemSync"/> routes every use in this repository through one
/// instance, the operating system's unless a test substitutes its own to observe their order.
/// </summary>
public interface ISystemCalls
{
    /// <summary>The file's written bytes reach the disk (fsync).</summary>
    void FlushFile(FileStream file);

    /// <summary>
    /// Renames <paramref name="source"/> over <paramref name="destination"/> atomically when both are on one file system;
    /// false, with nothing moved, when they are not.
    /// </summary>
    bool TryRename(string source, string destination);

    /// <summary>The directory's entries (creations, renames, deletions in it) reach the disk.</summary>
    void FlushDirectory(string directory);

    /// <summary>Whether <see cref="SyncFileSystem"/> is available (Linux syncfs).</summary>
    bool CanSyncFileSystem { get; }

    /// <summary>Everything written so far to the file system holding <paramref name="path"/> reaches the disk.</summary>
    void SyncFileSystem(string path);
}
