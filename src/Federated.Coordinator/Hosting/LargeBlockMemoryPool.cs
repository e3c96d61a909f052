using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace Federated.Coordinator.Hosting;

/// <summary>
/// Kestrel's buffers in 64 KiB pinned blocks instead of its default 4 KiB. A socket receive fills at most the free part of
/// one block, so gigabytes of uploads arrived in reads of about 2 KB (500,000 receive calls per GB, measured with strace),
/// and every HTTP/2 frame was copied into a chain of small segments.
/// </summary>
public sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}

/// <summary>Hands out whole pinned blocks and keeps up to <see cref="MaxIdleBlocks"/> returned ones for reuse (the rest go to the GC).</summary>
public sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    /// <summary>16 MiB held idle at most, whatever a burst of uploads took.</summary>
    public const int MaxIdleBlocks = 256;

    readonly ConcurrentQueue<byte[]> _idle = new();
    int _idleCount;
    volatile bool _disposed;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_idle.TryDequeue(out var block)) Interlocked.Decrement(ref _idleCount);
        else block = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        return new Lease(this, block);
    }

    void Return(byte[] block)
    {
        if (_disposed || Interlocked.Increment(ref _idleCount) > MaxIdleBlocks)
        {
            Interlocked.Decrement(ref _idleCount);
            return;
        }
        _idle.Enqueue(block);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _idle.Clear();
    }

    sealed class Lease(LargeBlockMemoryPool pool, byte[] block) : IMemoryOwner<byte>
    {
        LargeBlockMemoryPool? _pool = pool;

        // Memory over a pinned array: pinning it for a socket call costs nothing.
        public Memory<byte> Memory { get; } = MemoryMarshal.CreateFromPinnedArray(block, 0, block.Length);

        public void Dispose() => Interlocked.Exchange(ref _pool, null)?.Return(block);
    }
}
