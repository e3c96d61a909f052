using System.Runtime.InteropServices;

namespace Federated.Core.Runtime;

/// <summary>
/// Process-wide tuning of glibc's malloc, which libtorch allocates tensors from. By default glibc
/// serves multi-MB blocks with fresh mmap()s and returns them on free, so every aggregation writes
/// its output into pages the kernel must fault in and zero (measured here: 4-7x the cost of the copy
/// itself). Hosts that aggregate round after round call <see cref="RetainFreedMemory"/> once at start,
/// so freed tensor memory is reused instead. A no-op off glibc.
/// </summary>
/// <remarks>
/// One thing cannot be set from here: the number of arenas. The .NET runtime's own threads have allocated (and so
/// created arenas) before <c>Main</c> runs, and glibc keeps handing those out to new threads whatever
/// <c>mallopt(M_ARENA_MAX)</c> says later. Thread-pool threads then allocate a round's tensors from several arenas,
/// and an arena's heap that comes free is unmapped whatever the trim threshold, so its pages are faulted in and zeroed
/// again the next round, and the heaps' high-water marks add up round after round (an ingest of 1,000 updates: peak RSS
/// 1.5-2.0 GiB growing over three rounds, against 1.1-1.2 GiB with one arena). Only <c>GLIBC_TUNABLES=glibc.malloc.arena_max=1</c>
/// in the process's environment at start does it (<see cref="CoordinatorTunables"/>, which the coordinator image sets);
/// <see cref="Arenas"/> says what a process got. A process that trains keeps glibc's arenas: libtorch's intra-op threads
/// allocate as they compute, and on one arena's lock a LoRA step on a bf16 base took 2.4-2.7x as long.
/// </remarks>
public static partial class NativeAllocator
{
    const int MallocTrimThreshold = -1, MallocMmapThreshold = -3;

    /// <summary>glibc's ceiling for M_MMAP_THRESHOLD on 64-bit (32 MiB); larger blocks still use mmap.</summary>
    public const int MaxMmapThreshold = 32 << 20;

    /// <summary>
    /// The GLIBC_TUNABLES a coordinator starts with (it aggregates round after round and trains nothing): the heap on
    /// transparent huge pages (far fewer TLB misses reading a round's updates) and one arena (see the remarks above).
    /// </summary>
    public const string CoordinatorTunables = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1";

    /// <returns>True if the allocator was reconfigured.</returns>
    public static bool RetainFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return mallopt(MallocMmapThreshold, MaxMmapThreshold) == 1 && mallopt(MallocTrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // musl and other C libraries have no mallopt
        }
    }

    /// <summary>How many arenas glibc's malloc has in this process (from <c>malloc_info</c>); null off glibc.</summary>
    public static unsafe int? Arenas()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            // glibc writes the buffer's address and length here when the stream is flushed or closed: locals of this frame.
            nint buffer = 0;
            nuint length = 0;
            nint stream = open_memstream(&buffer, &length);
            if (stream == 0) return null;
            try
            {
                if (malloc_info(0, stream) != 0) return null;
            }
            finally { fclose(stream); }
            try { return Marshal.PtrToStringUTF8(buffer, (int)length).Split("<heap nr=").Length - 1; } // one element per arena
            finally { free(buffer); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);

    [LibraryImport("libc", EntryPoint = "malloc_info")]
    private static partial int malloc_info(int options, nint stream);

    [LibraryImport("libc", EntryPoint = "open_memstream")]
    private static unsafe partial nint open_memstream(nint* buffer, nuint* length);

    [LibraryImport("libc", EntryPoint = "fclose")]
    private static partial int fclose(nint stream);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void free(nint pointer);
}
