using System.Security.Cryptography;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Grains.Aggregation;
using Federated.Storage;
using static TorchSharp.torch;

namespace Federated.Grains.Tests.Aggregation;

public sealed class PayloadModulesTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("payload-modules-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    static LoraAdapter Adapter(int modules, int rank, long inFeatures, int outFeatures, int seed)
    {
        var generator = new Generator((ulong)seed);
        return new LoraAdapter(Enumerable.Range(0, modules).Select(i => new LoraModule($"layers.{i}.q_proj",
            randn([rank, inFeatures], generator: generator), randn([outFeatures, rank], generator: generator), alpha: 2 * rank)), "base");
    }

    [Fact]
    public async Task A_payload_streamed_into_the_store_is_the_payload_written_whole()
    {
        using var adapter = Adapter(modules: 3, rank: 4, inFeatures: 300_000, outFeatures: 64, seed: 1); // 14 MB: several pipe fills
        var whole = AdapterPayload.ToBytes(adapter);

        var stored = await PayloadModules.PutAsync(new DirectoryContentStore(_root), adapter);

        Assert.Equal(new StoredUpdate(Convert.ToHexStringLower(SHA256.HashData(whole)), whole.Length), stored);
    }

    [Fact]
    public async Task A_store_that_stops_reading_fails_the_put_and_releases_the_writer()
    {
        using var adapter = Adapter(modules: 2, rank: 4, inFeatures: 1_000_000, outFeatures: 8, seed: 2); // 32 MB: the writer must wait on a full pipe

        var put = PayloadModules.PutAsync(new FailingAfter(1 << 20), adapter);

        var e = await Assert.ThrowsAsync<ContentStoreException>(() => put.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("after 1,048,576 bytes", e.Message);
    }

    /// <summary>
    /// 2.15 GB of factors: past what a byte array (or a MemoryStream) holds. Written as a stream into the directory store, then
    /// read back module by module with ranges, which is how aggregation and shard parts read payloads.
    /// </summary>
    [Fact]
    public async Task A_payload_over_2_GiB_is_stored_and_read_back_module_by_module()
    {
        using var adapter = Adapter(modules: 2, rank: 8, inFeatures: 1L << 25, outFeatures: 4, seed: 3);
        var store = new DirectoryContentStore(_root, maxBytes: 3L << 30);

        var stored = await PayloadModules.PutAsync(store, adapter);
        Assert.True(stored.Size > int.MaxValue, $"{stored.Size:N0} bytes");
        using var read = await PayloadModules.ReadAllAsync(store, stored, "test");

        Assert.Equal(adapter.Modules.Select(m => m.Name), read.Modules.Select(m => m.Name));
        foreach (var (expected, actual) in adapter.Modules.Zip(read.Modules))
        {
            Assert.True(expected.A.eq(actual.A).all().item<bool>(), expected.Name);
            Assert.True(expected.B.eq(actual.B).all().item<bool>(), expected.Name);
        }
    }

    [Fact]
    public async Task A_payload_this_process_described_is_described_again_without_reading_the_store()
    {
        // A seed of its own: the descriptions are the process's, and another test's payload would already be described.
        using var adapter = Adapter(modules: 3, rank: 4, inFeatures: 64, outFeatures: 32, seed: Random.Shared.Next());
        var store = new CountingReads(new DirectoryContentStore(_root));
        var stored = await PayloadModules.PutAsync(store, adapter);

        var first = await PayloadModules.DescribeAsync(store, stored, "test");
        int reads = store.Ranges;
        var again = await PayloadModules.DescribeAsync(store, stored, "test");

        Assert.Equal(2, reads); // the length prefix, then the header
        Assert.Equal(reads, store.Ranges);
        Assert.Same(first, again);
        Assert.Equal(adapter.Modules.Select(m => m.Name), again.Modules.Select(m => m.Name));
    }

    sealed class CountingReads(IContentStore inner) : DelegatingStore(inner)
    {
        int _ranges;
        public int Ranges => _ranges;

        public override Task<byte[]> ReadRangeAsync(StoredUpdate reference, long offset, int count, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _ranges);
            return base.ReadRangeAsync(reference, offset, count, cancellationToken);
        }
    }

    /// <summary>Reads a payload's first bytes, then fails, as a store losing its connection would.</summary>
    sealed class FailingAfter(int bytes) : IContentStore
    {
        public async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
        {
            var buffer = new byte[bytes];
            await content.ReadExactlyAsync(buffer, cancellationToken);
            throw new ContentStoreException($"the store failed after {bytes:N0} bytes");
        }

        public Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
