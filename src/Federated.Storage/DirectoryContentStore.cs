using Federated.IO;
using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// The embedded default: payloads as files <c>root/ab/abcdef...</c> named by their SHA-256. A payload is
/// written to <c>root/.incoming</c>, flushed to disk and renamed into place (the rename flushed too), so a reference never names
/// a partial file and a crash leaves at most an orphan in <c>.incoming</c>. A verified, flushed file on the same file
/// system (a completed upload) is adopted by renaming it into place instead (<see cref="TryAdoptAsync"/>).
/// </summary>
public sealed class DirectoryContentStore : IAdoptingContentStore
{
    public const long DefaultMaxBytes = 2L << 30;
    const int ChunkBytes = 1 << 20;
    readonly string _root, _incoming;
    readonly long _maxBytes;
    /// <summary>Linux: concurrent puts share file-system syncs. Elsewhere each put flushes its own file.</summary>
    readonly DurabilityBarrier? _barrier;

    public DirectoryContentStore(string root, long maxBytes = DefaultMaxBytes)
    {
        _root = Path.GetFullPath(root);
        _incoming = Path.Combine(_root, ".incoming");
        _maxBytes = maxBytes;
        Directory.CreateDirectory(_incoming);
        _barrier = FileSystemSync.CanSyncFileSystem ? new DurabilityBarrier(_root) : null;
    }

    string PathOf(StoredUpdate reference)
    {
        HashingCopy.Validate(reference);
        return Path.Combine(_root, reference.Sha256[..2], reference.Sha256);
    }

    public async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
    {
        string temp = Path.Combine(_incoming, Guid.NewGuid().ToString("N"));
        try
        {
            StoredUpdate reference;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                reference = await HashingCopy.CopyAsync(content, _maxBytes, ChunkBytes, m => file.WriteAsync(m, cancellationToken).AsTask(), cancellationToken);
                if (_barrier is null) FileSystemSync.FlushFile(file);
            }
            string final = PathOf(reference), shard = Path.GetDirectoryName(final)!;
            if (!File.Exists(final))
            {
                // The bytes are on disk before the name that promises them is.
                if (_barrier is not null) await _barrier.SyncAsync(cancellationToken);
                Directory.CreateDirectory(shard);
                // Replacing a file of the same bytes (a concurrent put won) changes nothing a reader could see.
                try { FileSystemSync.Rename(temp, final); }
                catch (IOException) when (File.Exists(final)) { } // Windows: the winner's file is open
            }
            // And the rename (ours, or a concurrent put's) is on disk before the reference is returned; without a barrier
            // by flushing the shard and the root, as the shard may be new.
            if (_barrier is not null) await _barrier.SyncAsync(cancellationToken);
            else
            {
                FileSystemSync.FlushDirectory(shard);
                FileSystemSync.FlushDirectory(_root);
            }
            return reference;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public Task<StoredUpdate?> TryAdoptAsync(IStagedPayload staged, CancellationToken cancellationToken = default)
    {
        if (staged is not StagedFile(string verifiedFile, var reference)) return Task.FromResult<StoredUpdate?>(null);
        string final = PathOf(reference);
        if (reference.Size > _maxBytes) throw new ContentTooLargeException(_maxBytes);
        long length = new FileInfo(verifiedFile).Length;
        if (length != reference.Size) throw new ArgumentException($"{verifiedFile} has {length:N0} bytes, not the {reference}");
        string shard = Path.GetDirectoryName(final)!;
        Directory.CreateDirectory(shard);
        // Replacing a file of the same bytes (a concurrent put won) changes nothing a reader could see.
        if (!FileSystemSync.TryRename(verifiedFile, final)) return Task.FromResult<StoredUpdate?>(null);
        // The bytes were flushed by the caller; the rename and the shard's own entry must be on disk before the reference
        // is returned. Two directory flushes, not a syncfs: that would also wait for every other upload's unflushed bytes.
        FileSystemSync.FlushDirectory(shard);
        FileSystemSync.FlushDirectory(_root);
        return Task.FromResult<StoredUpdate?>(reference);
    }

    public async Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
    {
        string path = PathOf(reference);
        if (!File.Exists(path)) throw new ContentNotFoundException(reference);
        var content = await File.ReadAllBytesAsync(path, cancellationToken);
        HashingCopy.Verify(reference, content);
        return content;
    }

    public Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default)
    {
        string path = PathOf(reference);
        if (!File.Exists(path)) throw new ContentNotFoundException(reference);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, reference.Size);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        stream.Seek(offset, SeekOrigin.Begin);
        return Task.FromResult<Stream>(stream);
    }

    public Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
    {
        var file = new FileInfo(PathOf(reference));
        return Task.FromResult(file.Exists && file.Length == reference.Size);
    }

    public Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
    {
        File.Delete(PathOf(reference));
        return Task.CompletedTask;
    }
}
