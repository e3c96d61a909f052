using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Federated.IO;

/// <summary>Linux <c>O_DIRECT</c>, which <see cref="FileOptions"/> does not offer.</summary>
public static class DirectIo
{
    /// <summary>A write handle to an existing file that bypasses the page cache, or null where that is not possible.</summary>
    public static SafeFileHandle? OpenForWriting(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        // The flag's value differs between architectures (asm-generic and arm64 use 0x10000).
        int? direct = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x4000,
            Architecture.Arm64 => 0x10000,
            _ => null,
        };
        if (direct is null) return null;
        int fd = Libc.Open(path, Libc.WriteOnly | Libc.LinuxCloseOnExec | direct.Value);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true); // EINVAL: the file system has no direct I/O (tmpfs)
    }
}
