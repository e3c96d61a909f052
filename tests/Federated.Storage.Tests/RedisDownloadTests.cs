using Federated.Contracts;

namespace Federated.Storage.Tests;

/// <summary>
/// Downloads from the Redis store stream the chunks a bounded piece at a time: a read at any offset, and any number of
/// downloads that stop reading, cost the coordinator a piece each, never the payload.
/// </summary>
[Collection(RedisAllocationCollection.Name)]
public sealed class RedisDownloadTests(RedisServer redis)
{
    const int Size = 48 << 20;
    readonly RedisContentStore _store = new(redis.Connection, chunkBytes: 1 << 20, maxBytes: 64 << 20, keyPrefix: $"test:{Guid.NewGuid():N}:");

    async Task<(byte[] Content, StoredUpdate Reference)> StoreAsync()
    {
        var content = new byte[Size];
        new Random(Size).NextBytes(content);
        return (content, await _store.PutAsync(new MemoryStream(content)));
    }

    /// <summary>Bytes allocated by the whole process while <paramref name="action"/> runs (other threads included, so an upper bound).</summary>
    static async Task<long> AllocatedDuring(Func<Task> action)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await action();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    [Fact]
    public async Task A_read_of_a_large_payload_at_an_offset_allocates_a_piece_not_the_payload()
    {
        var (content, reference) = await StoreAsync();
        var piece = new byte[64 << 10];
        int read = 0;

        long allocated = await AllocatedDuring(async () =>
        {
            await using var stream = await _store.OpenReadAsync(reference, 40L << 20);
            read = await stream.ReadAsync(piece);
        });

        Assert.Equal(content.AsSpan(40 << 20, read).ToArray(), piece[..read]);
        Assert.True(read > 0);
        Assert.True(allocated < 4 << 20, $"a 64 KiB read of a {Size:N0}-byte payload allocated {allocated:N0} bytes");
    }

    [Fact]
    public async Task Twenty_downloads_that_stop_reading_hold_a_piece_each()
    {
        var (_, reference) = await StoreAsync();
        var stalled = new List<Stream>();
        long allocated = await AllocatedDuring(async () =>
        {
            for (int i = 0; i < 20; i++)
            {
                var stream = await _store.OpenReadAsync(reference, (long)i << 20);
                await stream.ReadExactlyAsync(new byte[16 << 10]);
                stalled.Add(stream); // and never read again
            }
        });
        foreach (var s in stalled) await s.DisposeAsync();
        // Reading whole payloads, as the store did, allocated 20 x 48 MiB.
        Assert.True(allocated < 16 << 20, $"20 stalled downloads of a {Size:N0}-byte payload allocated {allocated:N0} bytes");
    }

    [Fact]
    public async Task The_stream_seeks_for_ranges_and_reads_the_exact_bytes_across_chunk_boundaries()
    {
        var (content, reference) = await StoreAsync();
        await using var stream = await _store.OpenReadAsync(reference);
        Assert.True(stream.CanSeek);
        Assert.Equal(Size, stream.Length);

        long start = (3L << 20) - 1000; // 1,000 bytes before a chunk boundary
        stream.Seek(start, SeekOrigin.Begin);
        var range = new byte[300_000];
        await stream.ReadExactlyAsync(range);
        Assert.Equal(content.AsSpan((int)start, range.Length).ToArray(), range);

        stream.Seek(-10, SeekOrigin.End);
        var tail = new MemoryStream();
        await stream.CopyToAsync(tail);
        Assert.Equal(content[^10..], tail.ToArray());
    }

    [Fact]
    public async Task A_missing_chunk_fails_the_read_as_corrupted()
    {
        var (_, reference) = await StoreAsync();
        await using var stream = await _store.OpenReadAsync(reference);
        var db = redis.Connection.GetDatabase();
        foreach (var key in redis.Connection.GetServers()[0].Keys(pattern: $"*{reference.Sha256}:5"))
            await db.KeyDeleteAsync(key);
        stream.Seek(5L << 20, SeekOrigin.Begin);
        await Assert.ThrowsAsync<ContentCorruptedException>(() => stream.ReadAsync(new byte[100]).AsTask());
    }
}

/// <summary>
/// The allocation tests count the whole process's allocations, so they run alone, after the parallel collections (another
/// test storing a 48 MB payload meanwhile failed one in CI), on a redis-server of their own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RedisAllocationCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "RedisAllocations";
}
