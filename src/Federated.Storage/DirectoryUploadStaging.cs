using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Federated.Storage;

/// <summary>
/// Embedded mode: each upload is a directory <c>root/.staging/&lt;owner hash&gt;/&lt;upload id&gt;</c> holding
/// <list type="bullet">
/// <item><c>ticket.json</c>: the ticket (and, once completed, that fact), written once via rename;</item>
/// <item><c>data</c>: the raw bytes received;</item>
/// <item><c>acks</c>: an append-only journal of acknowledged offsets, 16-byte records (offset, checksum).</item>
/// </list>
/// <para>
/// An append writes the data, flushes it to disk, then appends and flushes an ack record; only then is
/// the offset acknowledged. The acknowledged offset is the last intact ack record, not the data file's
/// length: after a power loss a file can come back longer than what was flushed, its tail zeros or
/// stale blocks, and trusting that length would make the client skip bytes it never delivered. Data
/// beyond the acknowledged offset is cut off before the next write. A torn ack record fails its
/// checksum and is ignored (only the last record can be torn: each is flushed before the next is
/// written). One journal record costs one small flush per append and needs no rename, which would
/// also need a directory flush to be durable.
/// </para>
/// <para>One process owns a data directory (as in embedded mode); within it, operations on one upload are serialized.</para>
/// </summary>
public sealed class DirectoryUploadStaging : IUploadStaging
{
    public static readonly TimeSpan DefaultIdleTtl = TimeSpan.FromHours(24);

    const string TicketFile = "ticket.json", DataFile = "data", AcksFile = "acks";
    const int AckBytes = 16;

    readonly string _staging;
    readonly long _maxBytes;
    readonly TimeSpan _idleTtl, _sweepInterval;
    readonly KeyedLock _locks = new();
    long _nextSweep = long.MinValue;

    sealed record Manifest(UploadTicket Ticket, bool Completed);

    /// <param name="root">The same root as the <see cref="DirectoryUpdateStore"/> is fine: staging lives in <c>.staging</c> beside its files.</param>
    public DirectoryUploadStaging(string root, long maxBytes = DirectoryUpdateStore.DefaultMaxBytes, TimeSpan? idleTtl = null)
    {
        _staging = Path.Combine(Path.GetFullPath(root), ".staging");
        _maxBytes = maxBytes;
        _idleTtl = idleTtl ?? DefaultIdleTtl;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_idleTtl, TimeSpan.Zero);
        _sweepInterval = TimeSpan.FromTicks(Math.Min(_idleTtl.Ticks / 4, TimeSpan.TicksPerHour));
        Directory.CreateDirectory(_staging);
    }

    string UploadDirectory(string owner, string uploadId) => Path.Combine(_staging, UploadNames.OwnerKey(owner), uploadId);

    public async Task<long> BeginAsync(UploadTicket ticket, CancellationToken cancellationToken = default)
    {
        ticket = UploadNames.Normalize(ticket, _maxBytes);
        await SweepIfDueAsync(cancellationToken);
        string dir = UploadDirectory(ticket.Owner, ticket.UploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);

        if (Load(dir) is { } existing)
        {
            if (existing.Ticket != ticket)
                throw new UploadConflictException(ticket.UploadId, existing.Ticket.Owner == ticket.Owner ? existing.Ticket : null);
            // Resuming counts as activity: the idle clock starts again.
            File.SetLastWriteTimeUtc(Path.Combine(dir, existing.Completed ? TicketFile : AcksFile), DateTime.UtcNow);
            return existing.Completed ? ticket.Size : AckedOffset(dir);
        }

        // Whatever is here without a ticket is a begin that was interrupted: start over.
        DeleteDirectory(dir);
        Directory.CreateDirectory(dir);
        foreach (string name in new[] { DataFile, AcksFile })
        {
            using var file = File.OpenHandle(Path.Combine(dir, name), FileMode.CreateNew, FileAccess.Write);
            RandomAccess.FlushToDisk(file);
        }
        WriteManifest(dir, new Manifest(ticket, Completed: false));
        // New directory entries are durable only once their parents are flushed.
        FileSystemSync.FlushDirectory(Path.GetDirectoryName(dir)!);
        FileSystemSync.FlushDirectory(_staging);
        return 0;
    }

    public async Task<long> GetOffsetAsync(string owner, string uploadId, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        string dir = UploadDirectory(owner, uploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);
        var manifest = LoadOwned(dir, owner, uploadId);
        return manifest.Completed ? manifest.Ticket.Size : AckedOffset(dir);
    }

    public async Task<long> AppendAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
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

        using var acks = File.OpenHandle(Path.Combine(dir, AcksFile), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        long acked = ReadAcks(acks, out long journalLength);
        if (offset != acked) throw new UploadOffsetMismatchException(uploadId, offset, acked);
        if (data.Length > size - acked) throw new UploadOverrunException(uploadId, offset, data.Length, size);
        if (data.IsEmpty) return acked;

        using (var file = File.OpenHandle(Path.Combine(dir, DataFile), FileMode.Open, FileAccess.Write, FileShare.None))
        {
            // Bytes past the acknowledged offset were never acknowledged (an interrupted append, or a tail a crash left behind).
            if (RandomAccess.GetLength(file) != acked) RandomAccess.SetLength(file, acked);
            await RandomAccess.WriteAsync(file, data, acked, cancellationToken);
            RandomAccess.FlushToDisk(file);
        }
        // From here on no cancellation: the bytes are on disk, acknowledging them is a few microseconds.
        long end = acked + data.Length;
        if (RandomAccess.GetLength(acks) != journalLength) RandomAccess.SetLength(acks, journalLength); // drop a torn record
        RandomAccess.Write(acks, AckRecord(end), journalLength);
        RandomAccess.FlushToDisk(acks);
        return end;
    }

    public async Task<UpdateReference> CompleteAsync(string owner, string uploadId, IUpdateStore store, CancellationToken cancellationToken = default)
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

        long acked = AckedOffset(dir);
        if (acked < ticket.Size) throw new UploadIncompleteException(uploadId, acked, ticket.Size);
        string data = Path.Combine(dir, DataFile);
        using (var file = File.OpenHandle(data, FileMode.Open, FileAccess.Write, FileShare.None))
            if (RandomAccess.GetLength(file) != acked) RandomAccess.SetLength(file, acked);

        // One pass: the store reads the staged bytes through a hash check that fails its last read when they are not
        // the declared ones, before it commits anything. Wrong bytes must never land in the store: it names them by
        // their own hash, and deleting them again could remove a payload someone else stored.
        UpdateReference stored;
        await using (var read = OpenRead(data))
        await using (var verifying = new VerifyingStream(read, ticket))
        {
            try
            {
                stored = await store.PutAsync(verifying, cancellationToken);
            }
            catch (UploadHashMismatchException)
            {
                DeleteDirectory(dir);
                throw;
            }
            catch (Exception e) when (e is not OperationCanceledException && verifying.Actual is null)
            {
                // The store (e.g. validation) refused before the end: bytes that are not the declared ones are a transfer error first.
                if (!await verifying.MatchesAfterDrainingAsync(CancellationToken.None))
                {
                    DeleteDirectory(dir);
                    throw new UploadHashMismatchException(uploadId, ticket.Sha256, verifying.Actual!);
                }
                throw;
            }
        }
        if (stored != reference) // the store read other bytes than the verified ones: nothing of it is trustworthy
        {
            DeleteDirectory(dir);
            throw new UploadHashMismatchException(uploadId, ticket.Sha256, stored.Sha256);
        }

        WriteManifest(dir, manifest with { Completed = true });
        File.Delete(data);
        File.Delete(Path.Combine(dir, AcksFile));
        return reference;
    }

    public async Task AbortAsync(string owner, string uploadId, CancellationToken cancellationToken = default)
    {
        UploadNames.ValidateIds(owner, uploadId);
        string dir = UploadDirectory(owner, uploadId);
        using var _ = await _locks.AcquireAsync(dir, cancellationToken);
        if (Load(dir) is { } manifest && manifest.Ticket.Owner == owner && manifest.Ticket.UploadId == uploadId)
            DeleteDirectory(dir);
    }

    /// <summary>The upload's manifest, or null when absent or idle too long (then it is deleted). Call under the upload's lock.</summary>
    Manifest? Load(string dir)
    {
        byte[] json;
        try { json = File.ReadAllBytes(Path.Combine(dir, TicketFile)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        if (IsIdle(dir))
        {
            DeleteDirectory(dir);
            return null;
        }
        return JsonSerializer.Deserialize<Manifest>(json) ?? throw new UpdateStoreException($"{dir}/{TicketFile} is empty");
    }

    /// <remarks>Ids that differ only in case share a directory on case-insensitive file systems: the stored ticket decides.</remarks>
    Manifest LoadOwned(string dir, string owner, string uploadId) =>
        Load(dir) is { } m && m.Ticket.Owner == owner && m.Ticket.UploadId == uploadId ? m : throw new UploadNotFoundException(uploadId);

    bool IsIdle(string dir)
    {
        var last = new[] { TicketFile, AcksFile }.Max(name => File.GetLastWriteTimeUtc(Path.Combine(dir, name)));
        return DateTime.UtcNow - last > _idleTtl;
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

    /// <summary>Writes a temporary file, flushes it and renames it over the manifest, so a reader sees the old or the new one whole.</summary>
    static void WriteManifest(string dir, Manifest manifest)
    {
        string final = Path.Combine(dir, TicketFile), temp = final + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, manifest);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, final, overwrite: true);
        FileSystemSync.FlushDirectory(dir);
    }

    static void DeleteDirectory(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    /// <summary>Removes idle uploads nobody came back for, at most every quarter of the idle time-to-live (and hourly at most).</summary>
    async Task SweepIfDueAsync(CancellationToken cancellationToken)
    {
        long now = Environment.TickCount64, due = Interlocked.Read(ref _nextSweep);
        if (now < due || Interlocked.CompareExchange(ref _nextSweep, now + (long)_sweepInterval.TotalMilliseconds, due) != due) return;
        foreach (string ownerDir in Directory.EnumerateDirectories(_staging))
        foreach (string dir in Directory.EnumerateDirectories(ownerDir))
        {
            if (!IsIdle(dir)) continue;
            using var _ = await _locks.AcquireAsync(dir, cancellationToken);
            if (Directory.Exists(dir) && IsIdle(dir)) DeleteDirectory(dir);
        }
    }
}
