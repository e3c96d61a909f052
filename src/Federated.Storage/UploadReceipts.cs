using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Federated.Storage;

/// <summary>
/// The SHA-256 of each upload this process began, fed as its appends succeed: while one process appended every byte of an
/// upload's generation in order, completing it needs no second read of the bytes to verify them (<see cref="RedisUploadStaging"/>).
/// A receipt that misses a byte (the upload went on in another process, two streams raced, it was replaced) is dropped, and
/// completion reads the bytes back instead. One receipt per upload begun here; those whose upload ended elsewhere (replaced,
/// or completed by another silo) go with the staging's idle sweep, so what they hold is bounded by the uploads of one idle
/// period (a hash state each).
/// </summary>
sealed class UploadReceipts(TimeProvider time)
{
    readonly ConcurrentDictionary<string, Receipt> _receipts = new(StringComparer.Ordinal);

    /// <summary>A new upload (or generation) under <paramref name="key"/>: its hash starts from byte 0.</summary>
    public void Start(string key, string generation) => Replace(key, new Receipt(generation, time));

    /// <summary>A begin that found the upload open at <paramref name="offset"/>: the receipt goes on only if it saw exactly those bytes.</summary>
    public void Resume(string key, string generation, long offset)
    {
        if (Find(key) is { } receipt && receipt.Generation == generation && receipt.IsAt(offset)) return;
        Drop(key);
        if (offset == 0 && generation.Length > 0) Start(key, generation);
    }

    public Receipt? Find(string key) => _receipts.TryGetValue(key, out var receipt) ? receipt : null;

    /// <summary>Removes the receipt for completion; the caller disposes it.</summary>
    public Receipt? Take(string key) => _receipts.TryRemove(key, out var receipt) ? receipt : null;

    public void Drop(string key) => Take(key)?.Dispose();

    public void DropIdle(TimeSpan idle)
    {
        foreach (var (key, receipt) in _receipts)
            if (receipt.IdleFor() > idle && _receipts.TryRemove(new KeyValuePair<string, Receipt>(key, receipt)))
                receipt.Dispose();
    }

    void Replace(string key, Receipt receipt)
    {
        Receipt? old = null;
        _receipts.AddOrUpdate(key, receipt, (_, existing) => { old = existing; return receipt; });
        old?.Dispose();
    }

    public sealed class Receipt(string generation, TimeProvider time) : IDisposable
    {
        readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        readonly Lock _lock = new();
        long _position, _touched = time.GetTimestamp();
        bool _broken;

        /// <summary>The upload generation (set by the begin that created it) whose bytes this hashes.</summary>
        public string Generation => generation;

        /// <summary>Redis accepted <paramref name="data"/> at <paramref name="offset"/>: hashed if it continues the bytes seen so far.</summary>
        public void Received(long offset, ReadOnlySpan<byte> data)
        {
            lock (_lock)
            {
                _touched = time.GetTimestamp();
                if (_broken || offset != _position) { _broken = true; return; }
                _hash.AppendData(data);
                _position += data.Length;
            }
        }

        public bool IsAt(long offset)
        {
            lock (_lock) return !_broken && _position == offset;
        }

        /// <summary>The lowercase hex SHA-256 of bytes [0, size), or null unless exactly those were seen.</summary>
        public string? Digest(long size)
        {
            lock (_lock)
                return _broken || _position != size ? null : Convert.ToHexStringLower(_hash.GetCurrentHash());
        }

        public TimeSpan IdleFor()
        {
            lock (_lock) return time.GetElapsedTime(_touched);
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _broken = true;
                _hash.Dispose();
            }
        }
    }
}
