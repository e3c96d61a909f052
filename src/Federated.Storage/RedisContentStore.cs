using System.Globalization;
using StackExchange.Redis;
using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// Cluster mode: payloads in Redis as chunks (<c>prefix + sha + ":" + i</c>) plus a manifest
/// (<c>prefix + sha</c> = "size:chunks"). Large values would block the shared connection, hence chunks.
/// Chunks are written under a temporary upload key that expires, renamed once the hash is known, and
/// the manifest is written last (only if absent): a reference never names a partial payload, and an
/// interrupted upload leaves nothing that outlives its expiry. Renames assume one Redis node (no
/// cluster hash slots), as the Helm chart deploys.
/// </summary>
public sealed class RedisContentStore(IConnectionMultiplexer redis, int chunkBytes = 1 << 20, long maxBytes = DirectoryContentStore.DefaultMaxBytes,
    string keyPrefix = "fed:update:") : IAdoptingContentStore
{
    static readonly TimeSpan IncomingExpiry = TimeSpan.FromHours(1);

    IDatabase Db => redis.GetDatabase();
    string Manifest(StoredUpdate reference)
    {
        HashingCopy.Validate(reference);
        return keyPrefix + reference.Sha256;
    }
    string Chunk(StoredUpdate reference, int index) => $"{Manifest(reference)}:{index}";

    public async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
    {
        var db = Db;
        string upload = $"{keyPrefix}incoming:{Guid.NewGuid():N}:";
        int chunks = 0;
        try
        {
            var reference = await HashingCopy.CopyAsync(content, maxBytes, chunkBytes, async chunk =>
            {
                // The buffer is reused after this returns: hand Redis its own copy.
                await db.StringSetAsync(upload + chunks, chunk.ToArray(), IncomingExpiry);
                chunks++;
            }, cancellationToken);

            string manifest = Manifest(reference);
            if (!await db.KeyExistsAsync(manifest))
            {
                for (int i = 0; i < chunks; i++)
                {
                    await db.KeyRenameAsync(upload + i, Chunk(reference, i));
                    await db.KeyPersistAsync(Chunk(reference, i));
                }
                await db.StringSetAsync(manifest, FormattableString.Invariant($"{reference.Size}:{chunks}"), when: When.NotExists);
            }
            return reference;
        }
        finally
        {
            // Whatever was not renamed into place (duplicate, failure, cancellation) goes now.
            var leftovers = Enumerable.Range(0, chunks).Select(i => (RedisKey)(upload + i)).ToArray();
            if (leftovers.Length > 0) await db.KeyDeleteAsync(leftovers);
        }
    }

    /// <summary>A completed upload's chunks staged on the same server are renamed into place (<see cref="RedisUploadStaging"/>).</summary>
    public async Task<StoredUpdate?> TryAdoptAsync(IStagedPayload staged, CancellationToken cancellationToken = default)
    {
        if (staged is not RedisUploadStaging.StagedChunks chunks || !ReferenceEquals(chunks.Redis, redis)) return null;
        var reference = chunks.Reference;
        if (reference.Size > maxBytes) throw new ContentTooLargeException(maxBytes);
        await chunks.MoveIntoAsync(Manifest(reference), FormattableString.Invariant($"{reference.Size}:{chunks.Count}"), i => Chunk(reference, i));
        return reference;
    }

    public async Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
    {
        var db = Db;
        var (_, count) = await ReadManifestAsync(db, reference);
        var values = await Task.WhenAll(Enumerable.Range(0, count).Select(i => db.StringGetAsync(Chunk(reference, i))));
        if (values.Any(v => v.IsNull)) throw new ContentCorruptedException(reference, "a chunk is missing");
        var content = new byte[values.Sum(v => ((byte[])v!).LongLength)];
        long offset = 0;
        foreach (byte[] chunk in values.Select(v => (byte[])v!))
        {
            if (offset + chunk.Length > content.Length) break;
            chunk.CopyTo(content, offset);
            offset += chunk.Length;
        }
        HashingCopy.Verify(reference, content);
        return content;
    }

    /// <remarks>
    /// Streams the chunks with GETRANGE, a bounded piece per read (<see cref="RedisPayloadStream"/>), from <paramref name="offset"/>:
    /// never the whole payload, so a download that stalls holds one piece. The stream is seekable (HTTP ranges); the reader
    /// verifies the hash, and a missing or short chunk fails the read with <see cref="ContentCorruptedException"/>.
    /// </remarks>
    public async Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, reference.Size);
        var db = Db;
        var (count, chunk) = await LayoutAsync(db, reference);
        return new RedisPayloadStream(db, reference, i => Chunk(reference, checked((int)i)), chunk, count) { Position = offset };
    }

    /// <summary>How many chunks hold the payload, and how large each but the last is.</summary>
    async Task<(int Count, long Chunk)> LayoutAsync(IDatabase db, StoredUpdate reference)
    {
        var (_, count) = await ReadManifestAsync(db, reference);
        // Every chunk but the last holds the chunk size the payload was written with (maybe another process's setting).
        long chunk = count <= 1 ? Math.Max(reference.Size, 1) : await db.StringLengthAsync(Chunk(reference, 0));
        if (count > 1 && (chunk <= 0 || (count - 1) * chunk >= reference.Size || count * chunk < reference.Size))
            throw new ContentCorruptedException(reference, $"its first chunk holds {chunk:N0} bytes, which {count} chunks cannot tile");
        return (count, chunk);
    }

    /// <summary>
    /// Chunk layouts (count, chunk size) of payloads read by range: a payload's bytes never change under its reference, so a
    /// module-by-module aggregation pays the manifest and the first chunk's length once per payload, then one GETRANGE per
    /// range. A stale entry (the payload deleted, or stored again with another chunk size) shows as a short read and is dropped.
    /// </summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, (int Count, long Chunk)> _layouts = new(StringComparer.Ordinal);
    const int MaxLayouts = 1 << 16;

    public async Task<byte[]> ReadRangeAsync(StoredUpdate reference, long offset, int count, CancellationToken cancellationToken = default)
    {
        var bytes = new byte[count];
        await ReadRangeIntoAsync(reference, offset, [bytes], cancellationToken);
        return bytes;
    }

    /// <remarks>
    /// One GETRANGE per chunk the range touches, pipelined, each reply copied from StackExchange.Redis's pooled buffer into the
    /// destinations: no array per read (a round's aggregation reads a module of every update, 4 GB at K = 1,000, and the
    /// arrays' zeroing and collection were a fifth of its CPU). The layout comes from a cache after the first range of a payload.
    /// </remarks>
    public async Task ReadRangeIntoAsync(StoredUpdate reference, long offset, IReadOnlyList<Memory<byte>> destinations, CancellationToken cancellationToken = default)
    {
        int count = IContentStore.TotalLength(destinations);
        IContentStore.CheckRange(reference, offset, count);
        var db = Db;
        for (int attempt = 0; ; attempt++)
        {
            if (!_layouts.TryGetValue(reference.Sha256, out var layout))
            {
                layout = await LayoutAsync(db, reference);
                if (_layouts.Count >= MaxLayouts) _layouts.Clear();
                _layouts[reference.Sha256] = layout;
            }
            var pieces = new List<(long At, Task<RespResult>? Read, int Length)>();
            for (long at = offset; at < offset + count;)
            {
                long index = at / layout.Chunk, within = at % layout.Chunk;
                int piece = (int)Math.Min(layout.Chunk - within, offset + count - at);
                pieces.Add((at - offset, index < layout.Count ? RedisRanges.GetRangeAsync(db, Chunk(reference, (int)index), within, piece) : null, piece));
                at += piece;
            }
            bool whole = true;
            foreach (var (at, read, length) in pieces)
            {
                if (read is null)
                {
                    whole = false;
                    continue;
                }
                using var reply = await read;
                whole &= RedisRanges.TryCopy(reply, length, at, destinations);
            }
            if (whole) return;
            _layouts.TryRemove(reference.Sha256, out _);
            if (attempt > 0) throw new ContentCorruptedException(reference, $"bytes [{offset:N0}, {offset + count:N0}) are not all in its chunks");
        }
    }

    async Task<(long Size, int Count)> ReadManifestAsync(IDatabase db, StoredUpdate reference)
    {
        var manifest = await db.StringGetAsync(Manifest(reference));
        if (manifest.IsNull) throw new ContentNotFoundException(reference);
        var parts = ((string)manifest!).Split(':');
        if (parts.Length != 2 || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out long size) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int count) || size != reference.Size)
            throw new ContentCorruptedException(reference, $"manifest '{manifest}' does not describe it");
        return (size, count);
    }

    public async Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
    {
        var manifest = await Db.StringGetAsync(Manifest(reference));
        return !manifest.IsNull && ((string)manifest!).StartsWith(reference.Size.ToString(CultureInfo.InvariantCulture) + ":", StringComparison.Ordinal);
    }

    public async Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
    {
        var db = Db;
        var manifest = await db.StringGetAsync(Manifest(reference));
        await db.KeyDeleteAsync(Manifest(reference)); // first, so no reader sees a half-deleted payload as present
        if (manifest.IsNull) return;
        int count = int.TryParse(((string)manifest!).Split(':').Last(), CultureInfo.InvariantCulture, out int c) ? c : 0;
        await db.KeyDeleteAsync(Enumerable.Range(0, count).Select(i => (RedisKey)Chunk(reference, i)).ToArray());
    }
}
