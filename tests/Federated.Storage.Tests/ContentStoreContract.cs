using System.Security.Cryptography;
using Federated.Contracts;

namespace Federated.Storage.Tests;

/// <summary>What every update store promises, run against each implementation.</summary>
public abstract class ContentStoreContract
{
    /// <summary>A store with a 1 MiB limit (chunked at 64 KiB where chunks exist).</summary>
    protected abstract IContentStore Store { get; }

    /// <summary>Damages the stored bytes of a payload, as a disk or operator might.</summary>
    protected abstract Task CorruptAsync(StoredUpdate reference);

    /// <summary>Whether anything of an unfinished or rejected upload is left behind.</summary>
    protected abstract Task<bool> HasLeftoversAsync();

    protected const long Limit = 1 << 20;

    static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65_536)]        // exactly one chunk
    [InlineData(230_001)]       // several chunks, a short last one
    public async Task Put_returns_the_sha256_and_size_and_read_returns_the_same_bytes(int size)
    {
        var content = Bytes(size, size);
        var reference = await Store.PutAsync(new MemoryStream(content));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), reference.Sha256);
        Assert.Equal(size, reference.Size);
        Assert.Equal(content, await Store.ReadAsync(reference));
        Assert.True(await Store.ContainsAsync(reference));
        Assert.False(await HasLeftoversAsync());
    }

    [Fact]
    public async Task The_same_bytes_twice_give_the_same_reference_and_one_copy()
    {
        var content = Bytes(100_000, 1);
        var first = await Store.PutAsync(new MemoryStream(content));
        var second = await Store.PutAsync(new MemoryStream(content));
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Store.PutAsync(new MemoryStream(content))));
        Assert.All(concurrent.Append(second), r => Assert.Equal(first, r));
        Assert.Equal(content, await Store.ReadAsync(first));
        Assert.False(await HasLeftoversAsync());
    }

    [Fact]
    public async Task Reading_from_an_offset_resumes_a_download()
    {
        var content = Bytes(150_000, 2);
        var reference = await Store.PutAsync(new MemoryStream(content));
        await using var stream = await Store.OpenReadAsync(reference, 100_000);
        var tail = new MemoryStream();
        await stream.CopyToAsync(tail);
        Assert.Equal(content[100_000..], tail.ToArray());
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(65_530, 20)]      // across a chunk boundary
    [InlineData(100_000, 50_000)] // to the end
    public async Task A_range_read_returns_exactly_those_bytes(int offset, int count)
    {
        var content = Bytes(150_000, 3);
        var reference = await Store.PutAsync(new MemoryStream(content));
        Assert.Equal(content[offset..(offset + count)], await Store.ReadRangeAsync(reference, offset, count));
    }

    [Theory]
    [InlineData(0, new[] { 10 })]
    [InlineData(65_530, new[] { 3, 0, 17 })]            // across a chunk boundary, split within it, with an empty destination
    [InlineData(1_000, new[] { 57_344, 65_536, 1 })]    // destinations longer than a chunk, across two boundaries
    public async Task A_range_read_into_destinations_fills_them_in_order_with_exactly_those_bytes(int offset, int[] lengths)
    {
        var content = Bytes(150_000, 3);
        var reference = await Store.PutAsync(new MemoryStream(content));
        var destinations = lengths.Select(n => new byte[n]).ToArray();

        await Store.ReadRangeIntoAsync(reference, offset, destinations.Select(d => (Memory<byte>)d).ToArray());

        Assert.Equal(content[offset..(offset + lengths.Sum())], destinations.SelectMany(d => d).ToArray());
    }

    [Fact]
    public async Task A_range_past_the_payload_is_refused_and_an_unknown_one_is_not_found()
    {
        var reference = await Store.PutAsync(new MemoryStream(Bytes(1_000, 4)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.ReadRangeAsync(reference, 990, 11));
        await Assert.ThrowsAsync<ContentNotFoundException>(() => Store.ReadRangeAsync(new StoredUpdate(new string('b', 64), 10), 0, 5));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.ReadRangeIntoAsync(reference, 990, [new byte[5], new byte[6]]));
        await Assert.ThrowsAsync<ContentNotFoundException>(() => Store.ReadRangeIntoAsync(new StoredUpdate(new string('b', 64), 10), 0, [new byte[5]]));
    }

    [Fact]
    public async Task A_range_of_a_payload_deleted_after_an_earlier_range_read_is_not_found()
    {
        var reference = await Store.PutAsync(new MemoryStream(Bytes(200_000, 5)));
        await Store.ReadRangeAsync(reference, 70_000, 100);
        await Store.DeleteAsync(reference);
        await Assert.ThrowsAsync<ContentNotFoundException>(() => Store.ReadRangeAsync(reference, 70_000, 100));
    }

    [Fact]
    public async Task An_unknown_reference_is_not_found()
    {
        var missing = new StoredUpdate(new string('a', 64), 10);
        await Assert.ThrowsAsync<ContentNotFoundException>(() => Store.ReadAsync(missing));
        await Assert.ThrowsAsync<ContentNotFoundException>(() => Store.OpenReadAsync(missing));
        Assert.False(await Store.ContainsAsync(missing));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")]
    [InlineData("abc")]
    public async Task A_reference_that_is_not_a_sha256_is_refused(string sha) =>
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReadAsync(new StoredUpdate(sha, 1)));

    [Fact]
    public async Task Corrupted_stored_bytes_are_detected_on_read()
    {
        var reference = await Store.PutAsync(new MemoryStream(Bytes(70_000, 3)));
        await CorruptAsync(reference);
        await Assert.ThrowsAsync<ContentCorruptedException>(() => Store.ReadAsync(reference));
    }

    [Fact]
    public async Task An_update_over_the_limit_is_refused_and_nothing_is_kept()
    {
        var e = await Assert.ThrowsAsync<ContentTooLargeException>(() => Store.PutAsync(new MemoryStream(Bytes((int)Limit + 1, 4))));
        Assert.Contains("1,048,576-byte limit", e.Message);
        Assert.False(await HasLeftoversAsync());
    }

    [Fact]
    public async Task A_cancelled_upload_keeps_nothing()
    {
        using var cancel = new CancellationTokenSource();
        var source = new SlowStream(Bytes(500_000, 5), afterBytes: 200_000, cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.PutAsync(source, cancel.Token));
        Assert.False(await HasLeftoversAsync());
    }

    [Fact]
    public async Task Delete_removes_the_payload()
    {
        var reference = await Store.PutAsync(new MemoryStream(Bytes(80_000, 6)));
        await Store.DeleteAsync(reference);
        Assert.False(await Store.ContainsAsync(reference));
        await Assert.ThrowsAsync<ContentNotFoundException>(() => Store.ReadAsync(reference));
    }

    /// <summary>Cancels the token once a given number of bytes has been read, like a client vanishing mid-upload.</summary>
    sealed class SlowStream(byte[] content, int afterBytes, CancellationTokenSource cancel) : MemoryStream(content)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= afterBytes) await cancel.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
            return await base.ReadAsync(buffer[..Math.Min(buffer.Length, 16_384)], cancellationToken);
        }
    }
}

public sealed class DirectoryUpdateStoreTests : ContentStoreContract, IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("update-store-").FullName;

    public DirectoryUpdateStoreTests() => Store = new DirectoryContentStore(_root, Limit);

    protected override IContentStore Store { get; }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    protected override Task CorruptAsync(StoredUpdate reference)
    {
        string path = Path.Combine(_root, reference.Sha256[..2], reference.Sha256);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        return Task.CompletedTask;
    }

    protected override Task<bool> HasLeftoversAsync() => Task.FromResult(Directory.EnumerateFiles(Path.Combine(_root, ".incoming")).Any());
}

[CollectionDefinition(nameof(RedisServer))]
public sealed class RedisCollection : ICollectionFixture<RedisServer>;

[Collection(nameof(RedisServer))]
public sealed class RedisUpdateStoreTests(RedisServer redis) : ContentStoreContract
{
    readonly string _prefix = $"test:{Guid.NewGuid():N}:";

    protected override IContentStore Store => new RedisContentStore(redis.Connection, chunkBytes: 65_536, maxBytes: Limit, keyPrefix: _prefix);

    protected override async Task CorruptAsync(StoredUpdate reference) =>
        await redis.Connection.GetDatabase().StringSetAsync($"{_prefix}{reference.Sha256}:0", new byte[] { 1, 2, 3 });

    protected override Task<bool> HasLeftoversAsync()
    {
        var server = redis.Connection.GetServers()[0];
        return Task.FromResult(server.Keys(pattern: $"{_prefix}incoming:*").Any());
    }

    [Fact]
    public async Task Payloads_are_stored_as_chunks_under_a_manifest()
    {
        var content = new byte[200_000];
        new Random(7).NextBytes(content);
        var reference = await Store.PutAsync(new MemoryStream(content));
        var db = redis.Connection.GetDatabase();
        Assert.Equal("200000:4", (string?)await db.StringGetAsync(_prefix + reference.Sha256));
        Assert.Equal(65_536, ((byte[])(await db.StringGetAsync($"{_prefix}{reference.Sha256}:0"))!).Length);
        Assert.Equal(200_000 - 3 * 65_536, ((byte[])(await db.StringGetAsync($"{_prefix}{reference.Sha256}:3"))!).Length);
        Assert.Null(await db.KeyTimeToLiveAsync($"{_prefix}{reference.Sha256}:0")); // no expiry once in place
    }
}
