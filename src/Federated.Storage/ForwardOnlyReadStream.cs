namespace Federated.Storage;

/// <summary>
/// The boilerplate of a stream that is read once, front to back: subclasses supply the asynchronous span read (and a
/// synchronous one where they have a better one than waiting on it), and everything a forward-only reader cannot do (seek,
/// write, know its length) says so.
/// </summary>
public abstract class ForwardOnlyReadStream : Stream
{
    /// <summary>Waits on <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>: the stores read asynchronously, and a synchronous reader stays correct.</summary>
    public override int Read(Span<byte> buffer)
    {
        var copy = new byte[buffer.Length];
        int read = ReadAsync(copy).AsTask().GetAwaiter().GetResult();
        copy.AsSpan(0, read).CopyTo(buffer);
        return read;
    }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public sealed override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public sealed override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public sealed override bool CanRead => true;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => false;
    public sealed override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public sealed override void Flush() { }
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();
    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
