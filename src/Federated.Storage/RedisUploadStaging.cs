using System.Globalization;
using System.Security.Cryptography;
using StackExchange.Redis;
using Federated.Contracts;

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
/// <para>
/// The open uploads of all silos are indexed in one hash <c>prefix open</c> (field: the upload's hash key; value: declared
/// size, owner hash, begin time, slot), changed by the same scripts that begin, complete and discard uploads, so the
/// <see cref="StagingLimits"/> are the cluster's, not a silo's. An upload whose hash expired is dropped from the index
/// (and its chunks deleted, not left to their longer time-to-live) by the next begin or <see cref="SweepAsync"/>.
/// The scripts name keys of other uploads and the index: a single Redis (or a primary with replicas), not Redis Cluster.
/// </para>
/// <para>
/// Completion writes nothing twice where it can: a begin sets the upload's generation (a random id every append of this
/// process checks), and <see cref="UploadReceipts"/> hashes what this process appended under it. When that covers the whole
/// upload, a <see cref="RedisContentStore"/> on the same server adopts the chunks by renaming them (one script, which checks
/// the generation again); otherwise (the upload went on in another silo) the chunks are read back through a hash check.
/// </para>
/// </summary>
public sealed class RedisUploadStaging : IUploadStaging
{
    const int Lost = -4, RefreshNeeded = -5, Overrun = -3, Mismatch = -2, Missing = -1;

    // Shared by the scripts that change the index. ARGV[1] of the caller is never read here.
    // drop: deletes an upload's hash and every chunk its declared size allows. prune: drops the index entries whose
    // upload expired and returns the live ones as {key, size, owner hash, began, slot}.
    const string IndexFunctions = """
        local function drop(key, size, chunk)
          local n = math.ceil(size / chunk)
          for i = 0, n - 1 do redis.call('DEL', key .. ':' .. string.format('%d', i)) end
          redis.call('DEL', key)
        end
        local function prune(index, chunk)
          local live, entries = {}, redis.call('HGETALL', index)
          for i = 1, #entries, 2 do
            local size, owner, began, slot = string.match(entries[i + 1], '^(%d+)|(%x*)|(%d+)|(.*)$')
            size = tonumber(size)
            if redis.call('EXISTS', entries[i]) == 0 then
              drop(entries[i], size, chunk)
              redis.call('HDEL', index, entries[i])
            else
              live[#live + 1] = {entries[i], size, owner, tonumber(began), slot}
            end
          end
          return live
        end

        """;

    // KEYS: hash, index. ARGV: owner, id, sha, size, ttl, slot, owner hash, now (ms), chunk bytes, max uploads, max bytes,
    // max per owner, generation. Returns {state, offset | sha, size | uploads, bytes, generation}. A new upload first drops chunks an expired one
    // under the same id may have left (they outlive its hash), then replaces the owner's upload in its slot and its oldest
    // ones over the per-owner limit, unless the global limits refuse it: then nothing changes.
    const string BeginScript = IndexFunctions + """
        local m = redis.call('HMGET', KEYS[1], 'owner', 'id', 'sha', 'size', 'offset', 'done', 'slot')
        if m[1] then
          if m[1] ~= ARGV[1] then return {'conflict', '', ''} end
          if m[2] ~= ARGV[2] or m[3] ~= ARGV[3] or m[4] ~= ARGV[4] or (m[7] or '') ~= ARGV[6] then return {'conflict', m[3], m[4]} end
          redis.call('PEXPIRE', KEYS[1], ARGV[5])
          if m[6] == '1' then return {'done', m[4]} end
          return {'open', m[5], redis.call('HGET', KEYS[1], 'gen') or ''}
        end
        local chunk, size = tonumber(ARGV[9]), tonumber(ARGV[4])
        drop(KEYS[1], size, chunk)
        redis.call('HDEL', KEYS[2], KEYS[1])
        local live = prune(KEYS[2], chunk)
        local uploads, bytes, mine = #live, 0, {}
        for _, u in ipairs(live) do
          bytes = bytes + u[2]
          if u[3] == ARGV[7] then mine[#mine + 1] = u end
        end
        table.sort(mine, function(a, b) return a[4] < b[4] end)
        local replaced, freed, kept = {}, 0, #mine
        for _, u in ipairs(mine) do
          if ARGV[6] ~= '' and u[5] == ARGV[6] then replaced[#replaced + 1] = u; u.gone = true; kept = kept - 1 end
        end
        for _, u in ipairs(mine) do
          if kept < tonumber(ARGV[12]) then break end
          if not u.gone then replaced[#replaced + 1] = u; kept = kept - 1 end
        end
        for _, u in ipairs(replaced) do freed = freed + u[2] end
        if uploads - #replaced + 1 > tonumber(ARGV[10]) or bytes - freed + size > tonumber(ARGV[11]) then
          return {'full', string.format('%d', uploads), string.format('%d', bytes)}
        end
        for _, u in ipairs(replaced) do
          drop(u[1], u[2], chunk)
          redis.call('HDEL', KEYS[2], u[1])
        end
        redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'id', ARGV[2], 'sha', ARGV[3], 'size', ARGV[4], 'offset', '0', 'done', '0', 'slot', ARGV[6],
          'gen', ARGV[13])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        redis.call('HSET', KEYS[2], KEYS[1], ARGV[4] .. '|' .. ARGV[7] .. '|' .. ARGV[8] .. '|' .. ARGV[6])
        return {'new', '0', ARGV[13]}
        """;

    // KEYS: index. ARGV: chunk bytes. Returns how many expired uploads were dropped.
    const string SweepScript = IndexFunctions + """
        local before = redis.call('HLEN', KEYS[1])
        return before - #prune(KEYS[1], tonumber(ARGV[1]))
        """;

    // KEYS: hash, chunk, first chunk. ARGV: owner, offset, data, hash ttl, chunk ttl, bytes already in the chunk,
    // bytes of the whole append (checked against the size up front, so an overrun appends nothing), generation ('' when
    // this process did not begin the upload: no receipt depends on it).
    const string AppendScript = """
        local m = redis.call('HMGET', KEYS[1], 'owner', 'offset', 'size', 'done', 'gen')
        if m[1] ~= ARGV[1] then return {-1} end
        local offset = tonumber(m[2])
        local size = tonumber(m[3])
        if m[4] == '1' then offset = size end
        if offset ~= tonumber(ARGV[2]) or (ARGV[8] ~= '' and m[5] ~= ARGV[8]) then return {-2, offset} end
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

    // KEYS: hash, index, manifest, then n staged chunks and the n chunk keys they become. ARGV: owner, generation, manifest
    // value, hash ttl. Adopts a complete upload's chunks as a stored payload and marks the upload completed, atomically, only
    // while it is the generation whose every byte this process hashed (a replaced or resumed-elsewhere upload is not):
    // 1 adopted (or the store held these bytes already), 0 the upload changed, -1 a chunk expired or was evicted.
    const string AdoptScript = """
        local m = redis.call('HMGET', KEYS[1], 'owner', 'gen', 'offset', 'size', 'done')
        if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] or m[3] ~= m[4] or m[5] == '1' then return 0 end
        local n = (#KEYS - 3) / 2
        for i = 1, n do
          if redis.call('EXISTS', KEYS[3 + i]) == 0 then return -1 end
        end
        if redis.call('EXISTS', KEYS[3]) == 0 then
          for i = 1, n do
            redis.call('RENAME', KEYS[3 + i], KEYS[3 + n + i])
            redis.call('PERSIST', KEYS[3 + n + i])
          end
          redis.call('SET', KEYS[3], ARGV[3])
        else
          for i = 1, n do redis.call('DEL', KEYS[3 + i]) end
        end
        redis.call('HSET', KEYS[1], 'done', '1')
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('HDEL', KEYS[2], KEYS[1])
        return 1
        """;

    // KEYS: hash, index, chunks... ARGV: owner, hash ttl. Marks the upload completed (no longer open) and drops its bytes.
    const string FinishScript = """
        if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'done', '1', 'offset', redis.call('HGET', KEYS[1], 'size'))
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        redis.call('HDEL', KEYS[2], KEYS[1])
        for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
        return 1
        """;

    readonly IConnectionMultiplexer _redis;
    readonly long _maxBytes;
    readonly int _chunkBytes;
    readonly long _hashTtlMs, _chunkTtlMs;
    readonly string _keyPrefix;
    readonly RedisKey _index;
    readonly StagingLimits _limits;
    readonly TimeProvider _time;
    readonly UploadReceipts _receipts;

    /// <param name="redis">The process's one multiplexer.</param>
    /// <param name="time">Orders an owner's uploads by when they began (the idle time-to-live is Redis's own clock).</param>
    public RedisUploadStaging(IConnectionMultiplexer redis, long maxBytes = DirectoryContentStore.DefaultMaxBytes, int chunkBytes = 1 << 20,
        TimeSpan? idleTtl = null, string keyPrefix = "fed:upload:", StagingLimits? limits = null, TimeProvider? time = null)
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
        _index = keyPrefix + "open";
        _limits = limits ?? StagingLimits.Unbounded;
        _time = time ?? TimeProvider.System;
        _receipts = new UploadReceipts(_time);
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
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(BeginScript, [hash, _index],
            [ticket.Owner, ticket.UploadId, ticket.Sha256, size, Ms(_hashTtlMs), ticket.Slot ?? "", UploadNames.OwnerKey(ticket.Owner),
             Ms(_time.GetUtcNow().ToUnixTimeMilliseconds()), _chunkBytes, Ms(_limits.MaxUploads), Ms(_limits.MaxBytes), _limits.MaxUploadsPerOwner,
             Guid.NewGuid().ToString("N")]))!;
        switch ((string)result[0]!)
        {
            case "new":
                _receipts.Start(hash, (string)result[2]!);
                return 0;
            case "full":
                throw new StagingFullException(long.Parse((string)result[1]!, CultureInfo.InvariantCulture),
                    long.Parse((string)result[2]!, CultureInfo.InvariantCulture), _limits.MaxUploads, _limits.MaxBytes);
            case "done": return ticket.Size;
            case "conflict":
                string sha = (string)result[1]!;
                throw new UploadConflictException(ticket.UploadId,
                    sha.Length == 0 ? null : ticket with { Sha256 = sha, Size = long.Parse((string)result[2]!, CultureInfo.InvariantCulture) });
            default:
                long offset = (long)result[1];
                _receipts.Resume(hash, (string)result[2]!, offset);
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
        var receipt = _receipts.Find(hash);
        while (!data.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Pieces end at chunk boundaries, so every chunk but the last holds exactly chunkBytes.
            int inChunk = (int)(offset % _chunkBytes);
            var piece = data[..Math.Min(data.Length, _chunkBytes - inChunk)];
            var result = (RedisResult[])(await db.ScriptEvaluateAsync(AppendScript, [hash, ChunkKey(hash, offset / _chunkBytes), first],
                [owner, offset, piece, Ms(_hashTtlMs), Ms(_chunkTtlMs), inChunk, data.Length, receipt?.Generation ?? ""]))!;
            long code = (long)result[0];
            switch (code)
            {
                case Missing:
                    _receipts.Drop(hash);
                    throw new UploadNotFoundException(uploadId);
                case Mismatch:
                    _receipts.Drop(hash); // another stream appended, or the upload was replaced: this process no longer saw every byte
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
                    throw new ContentStoreException($"upload '{uploadId}': unexpected staging state {code}");
            }
            receipt?.Received(offset, piece.Span);
            offset = code;
            data = data[piece.Length..];
        }
        return offset;
    }

    /// <summary>Redis acknowledges every write: the same as <see cref="AppendAsync"/>.</summary>
    public Task<long> WriteAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        AppendAsync(owner, uploadId, offset, data, cancellationToken);

    public async Task<StoredUpdate> CompleteAsync(string owner, string uploadId, IContentStore store, CancellationToken cancellationToken = default)
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
        if (_receipts.Take(hash) is { } receipt)
        {
            using (receipt)
            {
                // This process hashed every byte as it was appended: the chunks are adopted where they lie, unread.
                if (receipt.Digest(ticket.Size) is { } digest)
                {
                    if (digest != ticket.Sha256)
                    {
                        await DiscardAsync(owner, uploadId);
                        throw new UploadHashMismatchException(uploadId, ticket.Sha256, digest);
                    }
                    if (store is IAdoptingContentStore adopting &&
                        await adopting.TryAdoptAsync(new StagedChunks(this, owner, uploadId, hash, receipt.Generation, chunks, reference), cancellationToken) is { } adopted)
                        return adopted;
                }
            }
        }
        // Otherwise one pass, as in DirectoryUploadStaging: the store reads the chunks through a hash check that fails its last
        // read when they are not the declared bytes, before it commits anything (wrong bytes would land under another
        // reference, and deleting them again could remove a payload someone else stored).
        StoredUpdate stored;
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
        await Db.ScriptEvaluateAsync(FinishScript, [hash, _index, .. chunks], [owner, Ms(_hashTtlMs)]);
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
        _receipts.Drop(hash);
        var db = Db;
        var m = await db.HashGetAsync(hash, ["owner", "size"]);
        if (m[0] != owner) return;
        await db.KeyDeleteAsync(Keys(hash, (long)m[1]));
        await db.HashDeleteAsync(_index, hash);
    }

    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        _receipts.DropIdle(TimeSpan.FromMilliseconds(_hashTtlMs)); // their uploads expired, or went on elsewhere
        return (int)await Db.ScriptEvaluateAsync(SweepScript, [_index], [_chunkBytes]);
    }

    /// <summary>
    /// A complete upload's chunks, every byte of them hashed by this process as it appended them: a
    /// <see cref="RedisContentStore"/> on the same server renames them into place instead of reading and writing them again.
    /// </summary>
    internal sealed class StagedChunks(RedisUploadStaging staging, string owner, string uploadId, string hash, string generation, RedisKey[] chunks,
        StoredUpdate reference) : IStagedPayload
    {
        public StoredUpdate Reference => reference;
        public IConnectionMultiplexer Redis => staging._redis;
        public int Count => chunks.Length;

        public Task<Stream> OpenReadAsync(CancellationToken cancellationToken = default) =>
            Task.FromResult<Stream>(new RedisPayloadStream(staging.Db, reference, i => chunks[i], staging._chunkBytes, chunks.Length));

        /// <summary>Renames the chunks to <paramref name="storedChunks"/> and writes the manifest, and completes the upload, in one script.</summary>
        public async Task MoveIntoAsync(RedisKey manifest, string manifestValue, Func<int, RedisKey> storedChunks)
        {
            RedisKey[] keys = [hash, staging._index, manifest, .. chunks, .. Enumerable.Range(0, chunks.Length).Select(storedChunks)];
            long code = (long)await staging.Db.ScriptEvaluateAsync(AdoptScript, keys, [owner, generation, manifestValue, Ms(staging._hashTtlMs)]);
            if (code == 1) return;
            if (code < 0) await staging.DiscardAsync(owner, uploadId);
            throw new UploadNotFoundException(uploadId, code < 0 ? "its staged bytes expired or were evicted from Redis" : "it was replaced while it completed");
        }
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
    }
}
