using System.Runtime.InteropServices;

namespace Federated.Core.Runtime;

/// <summary>
/// Process-wide tuning of glibc's malloc, which libtorch allocates tensors from. By default glibc
/// serves multi-MB blocks with fresh mmap()s and returns them on free, so every aggregation writes
/// its output into pages the kernel must fault in and zero (measured here: 4-7x the cost of the copy
/// itself). Hosts that aggregate round after round call <see cref="RetainFreedMemory"/> once at start,
/// so freed tensor memory is reused instead. A no-op off glibc.
/// </summary>
public static partial class NativeAllocator
{
    const int MallocTrimThreshold = -1, MallocMmapThreshold = -3, MallocArenaMax = -8;

    /// <summary>glibc's ceiling for M_MMAP_THRESHOLD on 64-bit (32 MiB); larger blocks still use mmap.</summary>
    public const int MaxMmapThreshold = 32 << 20;

    /// <returns>True if the allocator was reconfigured.</returns>
    public static bool RetainFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            // One arena: memory freed by one thread is reused by the next allocation on any thread
            // (aggregation builds modules on pool threads, each of which would otherwise keep its own).
            return mallopt(MallocMmapThreshold, MaxMmapThreshold) == 1
                && mallopt(MallocTrimThreshold, int.MaxValue) == 1
                && mallopt(MallocArenaMax, 1) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // musl and other C libraries have no mallopt
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
