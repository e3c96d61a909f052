using StackExchange.Redis;
using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// A stored payload read from its Redis chunks with <c>GETRANGE</c>, one bounded piece per read: a download, ranged or not,
/// holds at most one piece (<see cref="MaxPieceBytes"/>) whatever the payload's size, and a stalled reader holds nothing more.
/// Seekable with a known length, so HTTP range requests seek instead of reading up to the range.
/// </summary>
sealed class RedisPayloadStream(IDatabase db, StoredUpdate reference, Func<long, RedisKey> chunkKey, long chunkBytes, long count) : Stream
{
    /// <summary>The most bytes one read fetches from Redis.</summary>
    public const int MaxPieceBytes = 256 << 10;

    long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => reference.Size;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_position >= reference.Size || buffer.IsEmpty) return 0;
        long index = _position / chunkBytes, within = _position % chunkBytes;
        if (index >= count) throw new ContentCorruptedException(reference, $"byte {_position:N0} lies past its {count} chunks");
        int piece = (int)Math.Min(Math.Min(buffer.Length, MaxPieceBytes), Math.Min(chunkBytes - within, reference.Size - _position));
        using (var reply = await RedisRanges.GetRangeAsync(db, chunkKey(index), within, piece))
            if (!RedisRanges.TryCopy(reply, piece, 0, [buffer]))
                throw new ContentCorruptedException(reference, $"chunk {index} does not hold {piece:N0} bytes at offset {within:N0}");
        _position += piece;
        return piece;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Synchronous readers are not expected (Kestrel and gRPC read asynchronously); this keeps them correct anyway.
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => reference.Size + offset,
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
