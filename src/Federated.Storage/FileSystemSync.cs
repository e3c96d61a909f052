using System.Runtime.InteropServices;

namespace Federated.Storage;

/// <summary>The durability calls .NET has no API for: fsync of a directory, and syncfs of a whole file system.</summary>
static class FileSystemSync
{
    const int ReadOnly = 0;

    /// <summary>fsync of a directory, so renames and creations in it survive a crash. Windows (NTFS journals metadata) needs none.</summary>
    public static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        WithDescriptor(directory, fd => Fsync(fd), "flush");
    }

    /// <summary>Linux syncfs: everything written to the file system holding <paramref name="path"/> so far is on disk after it.</summary>
    public static bool CanSyncFileSystem => OperatingSystem.IsLinux();

    public static void SyncFileSystem(string path) => WithDescriptor(path, fd => SyncFs(fd), "sync the file system of");

    const int CrossDevice = 18; // EXDEV, on Linux and macOS alike

    /// <summary>
    /// Renames <paramref name="source"/> to <paramref name="destination"/> (replacing it) when both are on one file system;
    /// false, with nothing moved, when they are not. <see cref="File.Move(string, string)"/> would copy across file systems
    /// instead, unflushed and not atomic.
    /// </summary>
    public static bool TryRename(string source, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            if (!string.Equals(Path.GetPathRoot(Path.GetFullPath(source)), Path.GetPathRoot(Path.GetFullPath(destination)), StringComparison.OrdinalIgnoreCase))
                return false;
            File.Move(source, destination, overwrite: true);
            return true;
        }
        if (Rename(source, destination) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == CrossDevice) return false;
        throw new IOException($"cannot rename {source} to {destination} (errno {errno})");
    }

    static void WithDescriptor(string path, Func<int, int> call, string what)
    {
        int fd = Open(path, ReadOnly);
        if (fd < 0) throw new IOException($"cannot open {path} to {what} it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (call(fd) != 0) throw new IOException($"cannot {what} {path} (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    static extern int SyncFs(int fd);

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    static extern int Rename([MarshalAs(UnmanagedType.LPUTF8Str)] string source, [MarshalAs(UnmanagedType.LPUTF8Str)] string destination);

    [DllImport("libc", EntryPoint = "close")]
    static extern int Close(int fd);
}
