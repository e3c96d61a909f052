using System.Runtime.InteropServices;
using Federated.Coordinator.Hosting;
using Federated.Coordinator.Tests.Api;
using Microsoft.AspNetCore.Connections;

namespace Federated.Coordinator.Tests.Hosting;

public class LargeBlockMemoryPoolTests
{
    static byte[] ArrayOf(Memory<byte> memory) =>
        MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment.Array! : throw new InvalidOperationException("not array-backed");

    [Fact]
    public void A_lease_is_a_whole_64_KiB_block_whatever_was_asked_and_a_returned_block_is_handed_out_again()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent(100);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, first.Memory.Length);
        var block = ArrayOf(first.Memory);
        first.Dispose();
        first.Dispose(); // a second return is ignored: the block must not be handed out twice

        using var second = pool.Rent();
        using var third = pool.Rent();
        Assert.Same(block, ArrayOf(second.Memory));
        Assert.NotSame(block, ArrayOf(third.Memory));
    }

    [Fact]
    public void At_most_MaxIdleBlocks_returned_blocks_are_kept_for_reuse()
    {
        using var pool = new LargeBlockMemoryPool();
        int count = LargeBlockMemoryPool.MaxIdleBlocks + 10;
        var leases = Enumerable.Range(0, count).Select(_ => pool.Rent()).ToList();
        var blocks = leases.Select(l => ArrayOf(l.Memory)).ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var lease in leases) lease.Dispose();

        var again = Enumerable.Range(0, count).Select(_ => pool.Rent()).ToList();
        Assert.Equal(LargeBlockMemoryPool.MaxIdleBlocks, again.Count(l => blocks.Contains(ArrayOf(l.Memory))));
        foreach (var lease in again) lease.Dispose();
    }

    [Fact]
    public void A_request_larger_than_a_block_is_refused()
    {
        using var pool = new LargeBlockMemoryPool();
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }
}

[Collection(CoordinatorCollection.Name)]
public sealed class KestrelMemoryPoolTests(CoordinatorHost coordinator)
{
    [Fact]
    public void The_coordinators_Kestrel_takes_its_buffers_from_the_large_block_pool()
    {
        var factory = coordinator.App.Services.GetRequiredService<IMemoryPoolFactory<byte>>();
        Assert.IsType<LargeBlockMemoryPoolFactory>(factory);
        Assert.Single(coordinator.App.Services.GetServices<IMemoryPoolFactory<byte>>().OfType<LargeBlockMemoryPoolFactory>());
    }
}
