using System.Buffers;
using System.Security.Cryptography;
using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// A staged upload's bytes on their way into an <see cref="IContentStore"/>, hashed as the store reads them: the read
/// that would report the end throws <see cref="UploadHashMismatchException"/> instead when the bytes are not the
/// ticket's. Stores commit a payload only after reading its end (<see cref="IContentStore.PutAsync"/>), so wrong bytes
/// are never committed, and the staged bytes are read once instead of twice (hash, then put).
/// </summary>
sealed class VerifyingStream(Stream inner, UploadTicket ticket) : ForwardOnlyReadStream
{
    readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    long _length;

    /// <summary>The SHA-256 of everything read, once the end was reached.</summary>
    public string? Actual { get; private set; }

    public override int Read(Span<byte> buffer) => Count(buffer, inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken);
        return Count(buffer.Span, read);
    }

    int Count(ReadOnlySpan<byte> buffer, int read)
    {
        if (read > 0)
        {
            _hash.AppendData(buffer[..read]);
            _length += read;
            return read;
        }
        Actual ??= Convert.ToHexStringLower(_hash.GetHashAndReset());
        if (_length != ticket.Size || Actual != ticket.Sha256)
            throw new UploadHashMismatchException(ticket.UploadId, ticket.Sha256, Actual);
        return 0;
    }

    /// <summary>
    /// For a store that gave up before the end (e.g. a refused adapter): hashes the rest and says whether the bytes were the
    /// declared ones, so that a transfer error is reported as such and not as whatever the truncated view looked like.
    /// </summary>
    public async Task<bool> MatchesAfterDrainingAsync(CancellationToken cancellationToken)
    {
        if (Actual is null)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int read;
                while ((read = await inner.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    _hash.AppendData(buffer.AsSpan(0, read));
                    _length += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            Actual = Convert.ToHexStringLower(_hash.GetHashAndReset());
        }
        return _length == ticket.Size && Actual == ticket.Sha256;
    }

    public override long Position { get => _length; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }
}
