using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Federated.IO;
using Microsoft.Win32.SafeHandles;
using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// Embedded mode: each upload is a directory <c>root/.staging/&lt;owner hash&gt;/&lt;upload id&gt;</c> holding
/// <list type="bullet">
/// <item><c>ticket.json</c>: the ticket (and, once completed, that fact), written once via rename;</item>
/// <item><c>data</c>: the raw bytes received;</item>
/// <item><c>acks</c>: an append-only journal of acknowledged offsets, 16-byte records (offset, checksum).</item>
/// </list>
/// <para>
/// Bytes are appended as they arrive (<see cref="DirectAppendFile"/>: past the page cache where the file system allows
/// it, gathered in a 1 MiB buffer per open stream) and acknowledged at sync points: once <c>syncBytes</c> (32 MiB by default) are
/// written but not acknowledged, and on every <see cref="AppendAsync"/> (the end of a stream). A sync point flushes the
/// data to disk, then appends and flushes an ack record; only then is the offset acknowledged. Flushing every few MiB
/// instead made two flushes per append the bulk of an upload's time, and a flush costs about the same for 4 or 32 MiB.
/// The acknowledged offset is the last intact ack record, not the data file's length: after a power loss a file can come
/// back longer than what was flushed, its tail zeros or stale blocks, and trusting that length would make the client
/// skip bytes it never delivered. Data beyond the acknowledged offset is cut off before the next write. A torn ack record
/// fails its checksum and is ignored (only the last record can be torn: each is flushed before the next is written).
/// </para>
/// <para>
/// The bytes are hashed as they are written (SHA-256, kept in memory per upload), so completing compares a digest
/// instead of reading the file again; after a restart the durable prefix is hashed once, by the first operation that
/// needs it. A completed upload's file is adopted by an <see cref="IAdoptingContentStore"/> on the same file system (a
/// rename), so its bytes are written to disk once; other stores get them through <see cref="IContentStore.PutAsync"/>.
/// </para>
/// <para>One process owns a data directory (as in embedded mode); within it, operations on one upload are serialized.</para>
/// <para>
/// The open uploads are indexed in memory (rebuilt from the manifests at start) to enforce <see cref="StagingLimits"/>:
/// begins are serialized, each decides what it replaces and whether it fits before writing anything. The limits are
/// this process's, which in embedded mode is the coordinator's.
/// </para>
/// </summary>
public sealed class DirectoryUploadStaging : IUploadStaging
{
    /// <summary>The default round deadline: an upload nobody wrote to for a whole round is abandoned.</summary>
    public static readonly TimeSpan DefaultIdleTtl = TimeSpan.FromMinutes(30);
    public const int DefaultSyncBytes = 32 << 20;

    const string TicketFile = "ticket.json", DataFile = "data", AcksFile = "acks";
    const int AckBytes = 16;

    readonly string _staging;
    readonly long _maxBytes;
    readonly int _syncBytes;
    readonly TimeSpan _idleTtl;
    readonly StagingLimits _limits;
    readonly TimeProvider _time;
    readonly KeyedLock _locks = new();
    /// <summary>Begins one at a time: each sees the open uploads as the one before left them.</summary>
    readonly SemaphoreSlim _admission = new(1, 1);
    /// <summary>Per upload directory: the open (not completed) uploads and when they began, for the limits.</summary>
    readonly ConcurrentDictionary<string, OpenUpload> _open = new(StringComparer.Ordinal);
    /// <summary>Per upload directory: what this process wrote and hashed. Absent after a restart, rebuilt from the files.</summary>
    readonly ConcurrentDictionary<string, Progress> _progress = new(StringComparer.Ordinal);
    sealed record Manifest(UploadTicket Ticket, bool Completed);

    sealed record OpenUpload(UploadTicket Ticket, DateTimeOffset Began);

    /// <summary>An upload's state in memory, read and changed only under its lock.</summary>
    sealed class Progress(UploadTicket ticket, long acked, long journalLength, IncrementalHash hash) : IDisposable
    {
        public UploadTicket Ticket { get; } = ticket;
        /// <summary>Durable, and recorded in the journal (which is <see cref="JournalLength"/> bytes long).</summary>
        public long Acked { get; private set; } = acked;
        public long JournalLength { get; private set; } = journalLength;
        /// <summary>In the data file; the bytes past <see cref="Acked"/> are not acknowledged yet.</summary>
        public long Written { get; private set; } = acked;
        /// <summary>Of the first <see cref="Written"/> bytes.</summary>
        public IncrementalHash Hash { get; private set; } = hash;
        /// <summary>Of the first <see cref="Acked"/> bytes: where a client that resumes at the acknowledged offset starts from.</summary>
        IncrementalHash _ackedHash = hash.Clone();

        public void Wrote(ReadOnlySpan<byte> data)
        {
            Hash.AppendData(data);
            Written += data.Length;
        }

        public void Acknowledged()
        {
            Acked = Written;
            JournalLength += AckBytes;
            _ackedHash.Dispose();
            _ackedHash = Hash.Clone();
        }

        /// <summary>Forgets the unacknowledged bytes (the file is cut when the writer opens again).</summary>
        public void Rewind()
        {
            CloseWriter();
            Hash.Dispose();
            Hash = _ackedHash.Clone();
            Written = Acked;
        }

        /// <summary>The data file, open for appending at <see cref="Written"/> while a stream writes to it.</summary>
        public DirectAppendFile Writer(string path) => _writer ??= DirectAppendFile.Open(path, Written);

        public void FlushWriter() => _writer?.Flush();

        public void CloseWriter()
        {
            _writer?.Dispose();
            _writer = null;
        }

        DirectAppendFile? _writer;

        public void Dispose()
        {
            CloseWriter();
            Hash.Dispose();
            _ackedHash.Dispose();
        }
    }

    /// <param name="root">The same root as the <see cref="DirectoryContentStore"/> is fine: staging lives in <c>.staging</c> beside its files.</param>
    /// <param name="syncBytes">Written but unacknowledged bytes that trigger a sync point: what a crash may cost a client to resend.</param>
    /// <param name="time">The clock idleness is measured by (file times are compared with it).</param>
    public DirectoryUploadStaging(string root, long maxBytes = DirectoryContentStore.DefaultMaxBytes, TimeSpan? idleTtl = null, int syncBytes = DefaultSyncBytes,
        StagingLimits? limits = null, TimeProvider? time = null)
    {
        _staging = Path.Combine(Path.GetFullPath(root), ".staging");
        _maxBytes = maxBytes;
        _idleTtl = idleTtl ?? DefaultIdleTtl;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_idleTtl, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(syncBytes, 0);
        _syncBytes = syncBytes;
        _limits = limits ?? StagingLimits.Unbounded;
        _time = time ?? TimeProvider.System;
        Directory.CreateDirectory(_staging);
        // Uploads left open by an earlier run count against the limits until they complete or expire.
        foreach (string dir in UploadDirectories())
            if (Load(dir) is { Completed: false } manifest)
                _open[dir] = new OpenUpload(manifest.Ticket, File.GetLastWriteTimeUtc(Path.Combine(dir, TicketFile)));
    }

    IEnumerable<string> UploadDirectories() => Directory.EnumerateDirectories(_staging).SelectMany(Directory.EnumerateDirectories);

    string UploadDirectory(string owner, string uploadId) => Path.Combine(_staging, UploadNames.OwnerKey(owner), uploadId);

    public async Task<long> BeginAsync(UploadTicket ticket, CancellationToken cancellationToken = default)
    {
        ticket = UploadNames.Normalize(ticket, _maxBytes);
        string dir = UploadDirectory(ticket.Owner, ticket.UploadId);
        await _admission.WaitAsync(cancellationToken);
        try
        {
            using var _ = await _locks.AcquireAsync(dir, cancellationToken);
            if (Load(dir) is { } existing)
            {
                if (existing.Ticket != ticket)
                    throw new UploadConflictException(ticket.UploadId, existing.Ticket.Owner == ticket.Owner ? existing.Ticket : null);
                // Resuming counts as activity: the idle clock starts again.
                File.SetLastWriteTimeUtc(Path.Combine(dir, existing.Completed ? TicketFile : AcksFile), _time.GetUtcNow().UtcDateTime);
                return existing.Completed ? ticket.Size : AckedOffset(dir);
            }

            // Decide everything before touching anything: a refused begin replaces nothing.
            var replaced = Replaced(ticket);
            long uploads = _open.Count, bytes = _open.Values.Sum(u => u.Ticket.Size);
            long freed = replaced.Sum(d => _open.TryGetValue(d, out var u) ? u.Ticket.Size : 0);
            if (!_limits.Admits(uploads - replaced.Count + 1, bytes - freed + ticket.Size))
                throw new StagingFullException(uploads, bytes, _limits.MaxUploads, _limits.MaxBytes);
            foreach (string victim in replaced)
            {
                using var __ = await _locks.AcquireAsync(victim, CancellationToken.None);
                Discard(victim);
            }
            Create(dir, ticket);
            return 0;
        }
        finally
        {
            _admission.Release();
        }
    }

    /// <summary>The owner's open uploads that <paramref name="ticket"/> replaces: the one in its slot, then the oldest while over the per-owner limit.</summary>
    List<string> Replaced(UploadTicket ticket)
    {
        var mine = _open.Where(u => u.Value.Ticket.Owner == ticket.Owner).OrderBy(u => u.Value.Began).ToList();
        var replaced = mine.Where(u => ticket.Slot is not null && u.Value.Ticket.Slot == ticket.Slot).Select(u => u.Key).ToList();
        long kept = mine.Count - replaced.Count;
        foreach (var (dir, _) in mine)
        {
            if (kept < _limits.MaxUploadsPerOwner) break;
            if (replaced.Contains(dir)) continue;
            replaced.Add(dir);
            kept--;
        }
        return replaced;
    }

    /// <summary>A new upload's directory, durable, and its place among the open uploads. Call under its lock.</summary>
    void Create(string dir, UploadTicket ticket)
    {
        // Whatever is here without a ticket is a begin that was interrupted: start over.
        Discard(dir);
        Directory.CreateDirectory(dir);
        // Empty files need no flush of their own: the manifest's directory flush makes their entries durable.
        foreach (string name in new[] { DataFile, AcksFile })
            File.OpenHandle(Path.Combine(dir, name), FileMode.CreateNew, FileAccess.Write).Dispose();
        WriteManifest(dir, new Manifest(ticket, Completed: false));
        // New directory entries are durable only once their parents are flushed.
        FileSystemSync.FlushDirectory(Path.GetDirectoryName(dir)!);
        FileSystemSync.FlushDirectory(_staging);
        _progress[dir] = new Progress(ticket, 0, 0, IncrementalHash.CreateHash(HashAlgorithmName.SHA256));
        _open[dir] = new OpenUpload(ticket, _time.GetUtcNow());
    }

    public async Task<long> GetOffsetAsync(string owner, string uploadId, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        string dir = UploadDirectory(owner, uploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);
        var manifest = LoadOwned(dir, owner, uploadId);
        return manifest.Completed ? manifest.Ticket.Size : AckedOffset(dir);
    }

    public Task<long> AppendAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        WriteAsync(owner, uploadId, offset, data, acknowledge: true, cancellationToken);

    public Task<long> WriteAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        WriteAsync(owner, uploadId, offset, data, acknowledge: false, cancellationToken);

    /// <param name="acknowledge">Make everything written durable before returning (a sync point), not only once enough is pending.</param>
    async Task<long> WriteAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, bool acknowledge, CancellationToken cancellationToken)
    {
        UploadNames.ValidateIds(owner, uploadId);
        string dir = UploadDirectory(owner, uploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);
        var manifest = LoadOwned(dir, owner, uploadId);
        long size = manifest.Ticket.Size;
        if (manifest.Completed)
        {
            if (offset != size) throw new UploadOffsetMismatchException(uploadId, offset, size);
            if (!data.IsEmpty) throw new UploadOverrunException(uploadId, offset, data.Length, size);
            return size;
        }

        var progress = await ProgressAsync(dir, manifest.Ticket, cancellationToken);
        if (offset != progress.Written)
        {
            // A client resuming at the acknowledged offset (its stream broke before the unacknowledged bytes were): theirs win.
            if (offset != progress.Acked) throw new UploadOffsetMismatchException(uploadId, offset, progress.Acked);
            progress.Rewind();
        }
        if (data.Length > size - offset) throw new UploadOverrunException(uploadId, offset, data.Length, size);

        try
        {
            // Opening the data file cuts off bytes past what this process wrote: never acknowledged (a rewind, a tail a
            // crash left behind). A write that fails forgets the progress: the next operation rebuilds it from the journal.
            if (!data.IsEmpty)
            {
                progress.Writer(Path.Combine(dir, DataFile)).Append(data.Span);
                progress.Wrote(data.Span);
            }
            // From here on no cancellation: the bytes are written, acknowledging them is one flush away.
            if (progress.Written > progress.Acked && (acknowledge || progress.Written - progress.Acked >= _syncBytes))
                Acknowledge(dir, progress);
        }
        catch
        {
            Forget(dir);
            throw;
        }
        // The end of a stream: its buffer is not held for a resume that may never come.
        if (acknowledge) progress.CloseWriter();
        return progress.Acked;
    }

    /// <summary>A sync point: the data on disk first, then the record that promises it.</summary>
    static void Acknowledge(string dir, Progress progress)
    {
        progress.FlushWriter();
        using (var acks = File.OpenHandle(Path.Combine(dir, AcksFile), FileMode.Open, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(acks, AckRecord(progress.Written), progress.JournalLength);
            RandomAccess.FlushToDisk(acks);
        }
        progress.Acknowledged();
    }

    /// <summary>
    /// The upload's progress; after a restart rebuilt from its files: the journal says what is acknowledged, anything beyond
    /// it is cut off, and the acknowledged bytes are hashed once. Call under the upload's lock.
    /// </summary>
    async Task<Progress> ProgressAsync(string dir, UploadTicket ticket, CancellationToken cancellationToken)
    {
        if (_progress.TryGetValue(dir, out var known))
        {
            if (known.Ticket == ticket) return known;
            Forget(dir); // another upload under this directory since (it was discarded and begun again)
        }

        long acked, journalLength;
        using (var acks = File.OpenHandle(Path.Combine(dir, AcksFile), FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            acked = ReadAcks(acks, out journalLength);
            if (RandomAccess.GetLength(acks) != journalLength) RandomAccess.SetLength(acks, journalLength); // drop a torn record
        }
        string data = Path.Combine(dir, DataFile);
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            long length = File.Exists(data) ? new FileInfo(data).Length : -1;
            if (length < acked)
            {
                // Lost acknowledged bytes (removed by hand, a file system gone wrong): nothing to resume from.
                Discard(dir);
                throw new UploadNotFoundException(ticket.UploadId, length < 0 ? "its staged bytes are missing" : "its staged bytes are shorter than acknowledged");
            }
            if (length != acked)
            {
                using var file = File.OpenHandle(data, FileMode.Open, FileAccess.Write, FileShare.None);
                RandomAccess.SetLength(file, acked);
            }
            await HashPrefixAsync(data, acked, hash, cancellationToken);
        }
        catch
        {
            hash.Dispose();
            throw;
        }
        var progress = new Progress(ticket, acked, journalLength, hash);
        _progress[dir] = progress;
        return progress;
    }

    static async Task HashPrefixAsync(string path, long length, IncrementalHash hash, CancellationToken cancellationToken)
    {
        if (length == 0) return;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await using var file = OpenRead(path);
            for (long left = length; left > 0;)
            {
                int read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken);
                if (read == 0) throw new EndOfStreamException($"{path} ended before its {length:N0} acknowledged bytes");
                hash.AppendData(buffer, 0, read);
                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async Task<StoredUpdate> CompleteAsync(string owner, string uploadId, IContentStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        UploadNames.ValidateIds(owner, uploadId);
        string dir = UploadDirectory(owner, uploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);
        var manifest = LoadOwned(dir, owner, uploadId);
        var ticket = manifest.Ticket;
        var reference = ticket.Reference;
        if (manifest.Completed)
            return await store.ContainsAsync(reference, cancellationToken)
                ? reference
                : throw new UploadNotFoundException(uploadId, "it was completed, but its payload has since been removed from the store");

        string data = Path.Combine(dir, DataFile);
        if (!_progress.ContainsKey(dir) && !File.Exists(data) && AckedOffset(dir) == ticket.Size && await store.ContainsAsync(reference, cancellationToken))
        {
            // The store adopted the file, then the process stopped before recording the completion.
            MarkCompleted(dir, manifest);
            return reference;
        }
        var progress = await ProgressAsync(dir, ticket, cancellationToken);
        if (progress.Acked < ticket.Size) throw new UploadIncompleteException(uploadId, progress.Acked, ticket.Size);

        // The digest of what was received: wrong bytes never reach the store, which names them by their own hash (and
        // deleting them again could remove a payload someone else stored).
        string actual = Convert.ToHexStringLower(progress.Hash.GetCurrentHash());
        if (actual != ticket.Sha256)
        {
            Discard(dir);
            throw new UploadHashMismatchException(uploadId, ticket.Sha256, actual);
        }

        // All acknowledged, so flushed: the store may take the file itself (validating wrappers check it first).
        progress.CloseWriter();
        var stored = store is IAdoptingContentStore adopting ? await adopting.TryAdoptAsync(new StagedFile(data, reference), cancellationToken) : null;
        if (stored is null)
        {
            await using var read = OpenRead(data);
            await using var verifying = new VerifyingStream(read, ticket); // the file is read again: check it is still what was hashed
            try
            {
                stored = await store.PutAsync(verifying, cancellationToken);
            }
            catch (UploadHashMismatchException)
            {
                Discard(dir);
                throw;
            }
        }
        if (stored != reference) // the store read other bytes than the verified ones: nothing of it is trustworthy
        {
            Discard(dir);
            throw new UploadHashMismatchException(uploadId, ticket.Sha256, stored.Sha256);
        }
        MarkCompleted(dir, manifest);
        return reference;
    }

    void MarkCompleted(string dir, Manifest manifest)
    {
        WriteManifest(dir, manifest with { Completed = true });
        File.Delete(Path.Combine(dir, DataFile));
        File.Delete(Path.Combine(dir, AcksFile));
        Forget(dir);
        _open.TryRemove(dir, out _);
    }

    public async Task AbortAsync(string owner, string uploadId, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        string dir = UploadDirectory(owner, uploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);
        if (Load(dir) is { } manifest && manifest.Ticket.Owner == owner && manifest.Ticket.UploadId == uploadId)
            Discard(dir);
    }

    /// <summary>The upload's manifest, or null when absent or idle too long (then it is deleted). Call under the upload's lock.</summary>
    Manifest? Load(string dir)
    {
        byte[] json;
        try { json = File.ReadAllBytes(Path.Combine(dir, TicketFile)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        if (IsIdle(dir))
        {
            Discard(dir);
            return null;
        }
        return JsonSerializer.Deserialize<Manifest>(json) ?? throw new ContentStoreException($"{dir}/{TicketFile} is empty");
    }

    /// <remarks>Ids that differ only in case share a directory on case-insensitive file systems: the stored ticket decides.</remarks>
    Manifest LoadOwned(string dir, string owner, string uploadId) =>
        Load(dir) is { } m && m.Ticket.Owner == owner && m.Ticket.UploadId == uploadId ? m : throw new UploadNotFoundException(uploadId);

    bool IsIdle(string dir)
    {
        // Data is written between acknowledgements: a long stretch without one is not idleness.
        var last = new[] { TicketFile, AcksFile, DataFile }.Max(name => File.GetLastWriteTimeUtc(Path.Combine(dir, name)));
        return _time.GetUtcNow().UtcDateTime - last > _idleTtl;
    }

    static long AckedOffset(string dir)
    {
        using var acks = File.OpenHandle(Path.Combine(dir, AcksFile), FileMode.Open, FileAccess.Read, FileShare.Read);
        return ReadAcks(acks, out _);
    }

    /// <summary>The last intact record's offset, and the journal length up to and including it.</summary>
    static long ReadAcks(SafeFileHandle acks, out long validLength)
    {
        long length = RandomAccess.GetLength(acks);
        length -= length % AckBytes;
        Span<byte> record = stackalloc byte[AckBytes];
        for (; length > 0; length -= AckBytes)
        {
            if (RandomAccess.Read(acks, record, length - AckBytes) == AckBytes && TryParseAck(record, out long offset))
            {
                validLength = length;
                return offset;
            }
        }
        validLength = 0;
        return 0;
    }

    static byte[] AckRecord(long offset)
    {
        var record = new byte[AckBytes];
        BinaryPrimitives.WriteInt64LittleEndian(record, offset);
        SHA256.HashData(record.AsSpan(0, 8)).AsSpan(0, 8).CopyTo(record.AsSpan(8));
        return record;
    }

    static bool TryParseAck(ReadOnlySpan<byte> record, out long offset)
    {
        offset = BinaryPrimitives.ReadInt64LittleEndian(record);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(record[..8], hash);
        return offset >= 0 && hash[..8].SequenceEqual(record[8..]);
    }

    static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Replaces the manifest durably, so a reader sees the old or the new one whole.</summary>
    static void WriteManifest(string dir, Manifest manifest) =>
        DurableFile.Write(Path.Combine(dir, TicketFile), file => JsonSerializer.Serialize(file, manifest));

    /// <summary>Deletes the upload's files and forgets its progress. Call under the upload's lock.</summary>
    void Discard(string dir)
    {
        Forget(dir);
        DeleteDirectory(dir);
        _open.TryRemove(dir, out _);
    }

    void Forget(string dir)
    {
        if (_progress.TryRemove(dir, out var progress)) progress.Dispose();
    }

    static void DeleteDirectory(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        int removed = 0;
        foreach (string dir in UploadDirectories().ToList())
        {
            if (!IsIdle(dir)) continue;
            using var _ = await _locks.AcquireAsync(dir, cancellationToken);
            if (!Directory.Exists(dir) || !IsIdle(dir)) continue;
            Discard(dir);
            removed++;
        }
        return removed;
    }
}
