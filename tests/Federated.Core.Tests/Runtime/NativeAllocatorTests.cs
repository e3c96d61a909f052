using Federated.Core.Runtime;

namespace Federated.Core.Tests.Runtime;

public class NativeAllocatorTests
{
    [Fact]
    public void Retaining_freed_memory_configures_glibc_on_linux_and_tensors_still_allocate()
    {
        Assert.Equal(OperatingSystem.IsLinux(), NativeAllocator.RetainFreedMemory());
        using var big = ones(4 << 20); // 16 MiB: served from the heap now, not a fresh mmap
        Assert.Equal(4 << 20, big.sum().item<float>());
    }

    [Fact]
    public void Arenas_counts_glibc_malloc_arenas_on_linux()
    {
        int? arenas = NativeAllocator.Arenas();
        if (OperatingSystem.IsLinux()) Assert.InRange(arenas!.Value, 1, 1024);
        else Assert.Null(arenas);
    }
}
