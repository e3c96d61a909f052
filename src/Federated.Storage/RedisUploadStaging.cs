using System.Globalization;
using System.Security.Cryptography;
using StackExchange.Redis;

namespace Federated.Storage;

/// <summary>
/// Cluster mode: an upload is a hash <c>prefix{ownerhash:id}</c> (ticket, acknowledged offset, whether
/// completed) plus chunk keys <c>prefix{ownerhash:id}:n</c>, chunk n holding bytes
/// [n·chunkBytes, (n+1)·chunkBytes). An append is one Lua script per piece (a piece never crosses a
/// chunk boundary) that checks the offset, APPENDs to the chunk and advances the offset together, so
/// offset and data never disagree, not even in an AOF cut short by a crash. The hash tag keeps an
/// upload's keys in one slot, as multi-key scripts need.
/// <para>
/// Everything expires when idle: the hash after the idle time-to-live, refreshed by each append and
/// by resuming; chunks after twice that, all refreshed (one batch) once the oldest would otherwise
/// expire before the hash, so a chunk never vanishes under a live upload. Acknowledged means
/// acknowledged by Redis: run it with <c>appendonly yes</c> (and <c>appendfsync always</c> to survive a
/// power loss, not only a crash) for acknowledged bytes to outlive a restart.
/// </para>
/// </summary>
public sealed class RedisUploadStaging : IUploadStaging
{
    const int Lost = -4, RefreshNeeded = -5, Overrun = -3, Mismatch = -2, Missing = -1;

    // KEYS: hash, every chunk the size allows. ARGV: owner, id, sha, size, ttl. Returns {state, offset | sha, size}.
    // A new upload first drops chunks an expired one under the same id may have left (they outlive its hash).
    const string BeginScript = """
        local m = redis.call('HMGET', KEYS[1], 'owner', 'id', 'sha', 'size', 'offset', 'done')
        if not m[1] then
          for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
          redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'id', ARGV[2], 'sha', ARGV[3], 'size', ARGV[4], 'offset', '0', 'done', '0')
          redis.call('PEXPIRE', KEYS[1], ARGV[5])
          return {'new', '0'}
        end
        if m[1] ~= ARGV[1] then return {'conflict', '', ''} end
        if m[2] ~= ARGV[2] or m[3] ~= ARGV[3] or m[4] ~= ARGV[4] then return {'conflict', m[3], m[4]} end
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        if m[6] == '1' then return {'done', m[4]} end
        return {'open', m[5]}
        """;

    // KEYS: hash, chunk, first chunk. ARGV: owner, offset, data, hash ttl, chunk ttl, bytes already in the chunk,
    // bytes of the whole append (checked against the size up front, so an overrun appends nothing).
    const string AppendScript = """
        local m = redis.call('HMGET', KEYS[1], 'owner', 'offset', 'size', 'done')
        if m[1] ~= ARGV[1] then return {-1} end
        local offset = tonumber(m[2])
        local size = tonumber(m[3])
        if m[4] == '1' then offset = size end
        if offset ~= tonumber(ARGV[2]) then return {-2, offset} end
        local length = string.len(ARGV[3])
        if offset + tonumber(ARGV[7]) > size then return {-3, size} end
        if redis.call('STRLEN', KEYS[2]) ~= tonumber(ARGV[6]) then return {-4} end
        if offset > 0 then
          local ttl = redis.call('PTTL', KEYS[3])
          if ttl == -2 then return {-4} end
          if ttl < tonumber(ARGV[4]) then return {-5, offset} end
        end
        redis.call('APPEND', KEYS[2], ARGV[3])
        redis.call('PEXPIRE', KEYS[2], ARGV[5])
        redis.call('HSET', KEYS[1], 'offset', string.format('%d', offset + length))
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        return {offset + length}
        """;

    // KEYS: hash, chunks... ARGV: owner, chunk ttl.
    const string RefreshScript = """
        if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
        for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
        return 1
        """;

    // KEYS: hash, chunks... ARGV: owner, hash ttl. Marks the upload completed and drops its bytes.
    const string FinishScript = """
        if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'done', '1', 'offset', redis.call('HGET', KEYS[1], 'size'))
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
        return 1
        """;

    readonly IConnectionMultiplexer _redis;
    readonly long _maxBytes;
    readonly int _chunkBytes;
    readonly long _hashTtlMs, _chunkTtlMs;
    readonly string _keyPrefix;

    /// <param name="redis">The process's one multiplexer.</param>
    public RedisUploadStaging(IConnectionMultiplexer redis, long maxBytes = DirectoryUpdateStore.DefaultMaxBytes, int chunkBytes = 1 << 20,
        TimeSpan? idleTtl = null, string keyPrefix = "fed:upload:")
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(chunkBytes, 0);
        var ttl = idleTtl ?? DirectoryUploadStaging.DefaultIdleTtl;
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, TimeSpan.FromMilliseconds(1));
        _redis = redis;
        _maxBytes = maxBytes;
        _chunkBytes = chunkBytes;
        _hashTtlMs = (long)ttl.TotalMilliseconds;
        _chunkTtlMs = 2 * _hashTtlMs;
        _keyPrefix = keyPrefix;
    }

    IDatabase Db => _redis.GetDatabase();

    string HashKey(string owner, string uploadId) => $"{_keyPrefix}{{{UploadNames.OwnerKey(owner)}:{uploadId}}}";

    static RedisKey ChunkKey(string hash, long index) => $"{hash}:{index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The upload's hash key followed by the keys of the chunks that hold its first <paramref name="bytes"/> bytes.</summary>
    RedisKey[] Keys(string hash, long bytes)
    {
        long chunks = (bytes + _chunkBytes - 1) / _chunkBytes;
        var keys = new RedisKey[chunks + 1];
        keys[0] = hash;
        for (long i = 0; i < chunks; i++) keys[i + 1] = ChunkKey(hash, i);
        return keys;
    }

    static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);

    public async Task<long> BeginAsync(UploadTicket ticket, CancellationToken cancellationToken = default)
    {
        ticket = UploadNames.Normalize(ticket, _maxBytes);
        string hash = HashKey(ticket.Owner, ticket.UploadId);
        string size = ticket.Size.ToString(CultureInfo.InvariantCulture);
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(BeginScript, Keys(hash, ticket.Size),
            [ticket.Owner, ticket.UploadId, ticket.Sha256, size, Ms(_hashTtlMs)]))!;
        switch ((string)result[0]!)
        {
            case "new": return 0;
            case "done": return ticket.Size;
            case "conflict":
                string sha = (string)result[1]!;
                throw new UploadConflictException(ticket.UploadId,
                    sha.Length == 0 ? null : ticket with { Sha256 = sha, Size = long.Parse((string)result[2]!, CultureInfo.InvariantCulture) });
            default:
                long offset = (long)result[1];
                // Resuming restarts the idle clock of the bytes too, not only of the hash.
                if (offset > 0) await Db.ScriptEvaluateAsync(RefreshScript, Keys(hash, offset), [ticket.Owner, Ms(_chunkTtlMs)]);
                return offset;
        }
    }

    public async Task<long> GetOffsetAsync(string owner, string uploadId, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        return (await ReadAsync(owner, uploadId)).Offset;
    }

    async Task<(UploadTicket Ticket, long Offset, bool Completed)> ReadAsync(string owner, string uploadId)
    {
        var m = await Db.HashGetAsync(HashKey(owner, uploadId), ["owner", "sha", "size", "offset", "done"]);
        if (m[0] != owner) throw new UploadNotFoundException(uploadId);
        var ticket = new UploadTicket(uploadId, owner, (string)m[1]!, (long)m[2]);
        bool completed = m[4] == "1";
        return (ticket, completed ? ticket.Size : (long)m[3], completed);
    }

    public async Task<long> AppendAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        if (data.IsEmpty)
        {
            long acked = await GetOffsetAsync(owner, uploadId, cancellationToken);
            return offset == acked ? acked : throw new UploadOffsetMismatchException(uploadId, offset, acked);
        }
        string hash = HashKey(owner, uploadId);
        RedisKey first = ChunkKey(hash, 0);
        var db = Db;
        bool refreshed = false;
        while (!data.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Pieces end at chunk boundaries, so every chunk but the last holds exactly chunkBytes.
            int inChunk = (int)(offset % _chunkBytes);
            var piece = data[..Math.Min(data.Length, _chunkBytes - inChunk)];
            var result = (RedisResult[])(await db.ScriptEvaluateAsync(AppendScript, [hash, ChunkKey(hash, offset / _chunkBytes), first],
                [owner, offset, piece, Ms(_hashTtlMs), Ms(_chunkTtlMs), inChunk, data.Length]))!;
            long code = (long)result[0];
            switch (code)
            {
                case Missing:
                    throw new UploadNotFoundException(uploadId);
                case Mismatch:
                    throw new UploadOffsetMismatchException(uploadId, offset, (long)result[1]);
                case Overrun:
                    throw new UploadOverrunException(uploadId, offset, data.Length, (long)result[1]);
                case Lost:
                    await DiscardAsync(owner, uploadId);
                    throw new UploadNotFoundException(uploadId, "its staged bytes expired or were evicted from Redis");
                case RefreshNeeded when !refreshed:
                    // The oldest chunks would expire before the hash: extend them all, then retry the piece.
                    await db.ScriptEvaluateAsync(RefreshScript, Keys(hash, offset), [owner, Ms(_chunkTtlMs)]);
                    refreshed = true;
                    continue;
                case < 0:
                    throw new UpdateStoreException($"upload '{uploadId}': unexpected staging state {code}");
            }
            offset = code;
            data = data[piece.Length..];
        }
        return offset;
    }

    /// <summary>Redis acknowledges every write: the same as <see cref="AppendAsync"/>.</summary>
    public Task<long> WriteAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        AppendAsync(owner, uploadId, offset, data, cancellationToken);

    public async Task<UpdateReference> CompleteAsync(string owner, string uploadId, IUpdateStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        UploadNames.ValidateIds(owner, uploadId);
        var (ticket, offset, completed) = await ReadAsync(owner, uploadId);
        var reference = ticket.Reference;
        if (completed)
            return await store.ContainsAsync(reference, cancellationToken)
                ? reference
                : throw new UploadNotFoundException(uploadId, "it was completed, but its payload has since been removed from the store");
        if (offset < ticket.Size) throw new UploadIncompleteException(uploadId, offset, ticket.Size);

        string hash = HashKey(owner, uploadId);
        var keys = Keys(hash, ticket.Size);
        var chunks = keys[1..];
        // One pass, as in DirectoryUploadStaging: the store reads the chunks through a hash check that fails its last
        // read when they are not the declared bytes, before it commits anything (wrong bytes would land under another
        // reference, and deleting them again could remove a payload someone else stored).
        UpdateReference stored;
        await using (var read = new ChunkStream(Db, chunks, uploadId))
        await using (var verifying = new VerifyingStream(read, ticket))
        {
            try
            {
                stored = await store.PutAsync(verifying, cancellationToken);
            }
            catch (Exception e) when (e is UploadHashMismatchException or UploadNotFoundException)
            {
                await DiscardAsync(owner, uploadId);
                throw;
            }
            catch (Exception e) when (e is not OperationCanceledException && verifying.Actual is null)
            {
                // The store (e.g. validation) refused before the end: bytes that are not the declared ones are a transfer error first.
                bool matches;
                try { matches = await verifying.MatchesAfterDrainingAsync(CancellationToken.None); }
                catch (UploadNotFoundException) { matches = false; }
                if (!matches)
                {
                    await DiscardAsync(owner, uploadId);
                    throw new UploadHashMismatchException(uploadId, ticket.Sha256, verifying.Actual ?? "(chunks missing)");
                }
                throw;
            }
        }
        if (stored != reference) // the store read other bytes than the verified ones: nothing of them is trustworthy
        {
            await DiscardAsync(owner, uploadId);
            throw new UploadHashMismatchException(uploadId, ticket.Sha256, stored.Sha256);
        }
        await Db.ScriptEvaluateAsync(FinishScript, keys, [owner, Ms(_hashTtlMs)]);
        return reference;
    }

    public Task AbortAsync(string owner, string uploadId, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        return DiscardAsync(owner, uploadId);
    }

    /// <summary>Deletes the hash and every chunk the declared size allows, in one command (an append racing it finds no hash).</summary>
    async Task DiscardAsync(string owner, string uploadId)
    {
        string hash = HashKey(owner, uploadId);
        var db = Db;
        var m = await db.HashGetAsync(hash, ["owner", "size"]);
        if (m[0] != owner) return;
        await db.KeyDeleteAsync(Keys(hash, (long)m[1]));
    }

    /// <summary>Reads chunks one at a time, so completing a large upload never holds it whole in memory.</summary>
    sealed class ChunkStream(IDatabase db, RedisKey[] chunks, string uploadId) : ForwardOnlyReadStream
    {
        int _next;
        byte[] _chunk = [];
        int _position;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_position == _chunk.Length)
            {
                if (_next == chunks.Length) return 0;
                cancellationToken.ThrowIfCancellationRequested();
                var value = await db.StringGetAsync(chunks[_next++]);
                _chunk = value.IsNull
                    ? throw new UploadNotFoundException(uploadId, "its staged bytes expired or were evicted from Redis")
                    : (byte[])value!;
                _position = 0;
            }
            int count = Math.Min(buffer.Length, _chunk.Length - _position);
            _chunk.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        // Synchronous readers are not expected here (the stores read asynchronously); this keeps them correct anyway.
        public override int Read(Span<byte> buffer)
        {
            var rented = new byte[buffer.Length];
            int read = ReadAsync(rented).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
    }
}
