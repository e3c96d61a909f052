using System.Runtime.InteropServices;

namespace Federated.IO;

/// <summary>The repository's one binding of libc's file calls; .NET has no API for fsync of a directory, syncfs or O_DIRECT.</summary>
static class Libc
{
    public const int ReadOnly = 0, WriteOnly = 0x1;
    public const int LinuxCloseOnExec = 0x80000;
    public const int InvalidArgument = 22, CrossDevice = 18; // EINVAL, EXDEV: the same on Linux and macOS

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    public static extern int SyncFs(int fd);

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    public static extern int Rename([MarshalAs(UnmanagedType.LPUTF8Str)] string source, [MarshalAs(UnmanagedType.LPUTF8Str)] string destination);

    [DllImport("libc", EntryPoint = "close")]
    public static extern int Close(int fd);
}

/// <summary>The operating system's <see cref="ISystemCalls"/>.</summary>
sealed class LibcSystemCalls : ISystemCalls
{
    public void FlushFile(FileStream file) => file.Flush(flushToDisk: true);

    public bool TryRename(string source, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            if (!string.Equals(Path.GetPathRoot(Path.GetFullPath(source)), Path.GetPathRoot(Path.GetFullPath(destination)), StringComparison.OrdinalIgnoreCase))
                return false;
            File.Move(source, destination, overwrite: true);
            return true;
        }
        // Not File.Move: across file systems it copies instead, unflushed and not atomic.
        if (Libc.Rename(source, destination) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == Libc.CrossDevice) return false;
        throw new IOException($"cannot rename {source} to {destination} (errno {errno})");
    }

    public void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS journals its metadata
        // EINVAL: the file system cannot fsync a directory (some FUSE and network ones); there is nothing more to do.
        WithDescriptor(directory, Libc.Fsync, "flush", ignoredErrno: Libc.InvalidArgument);
    }

    public bool CanSyncFileSystem => OperatingSystem.IsLinux();

    public void SyncFileSystem(string path) => WithDescriptor(path, Libc.SyncFs, "sync the file system of", ignoredErrno: null);

    static void WithDescriptor(string path, Func<int, int> call, string what, int? ignoredErrno)
    {
        int fd = Libc.Open(path, Libc.ReadOnly);
        if (fd < 0) throw new IOException($"cannot open {path} to {what} it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (call(fd) == 0) return;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != ignoredErrno) throw new IOException($"cannot {what} {path} (errno {errno})");
        }
        finally
        {
            _ = Libc.Close(fd);
        }
    }
}
