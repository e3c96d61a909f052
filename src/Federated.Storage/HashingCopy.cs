using System.Buffers;
using System.Security.Cryptography;
using Federated.Contracts;

namespace Federated.Storage;

/// <summary>Copies a stream in chunks while hashing it, enforcing a size limit as bytes arrive.</summary>
static class HashingCopy
{
    /// <param name="write">Receives each chunk of <paramref name="chunkBytes"/> (the last may be shorter); the buffer is reused afterwards.</param>
    public static async Task<StoredUpdate> CopyAsync(Stream source, long maxBytes, int chunkBytes, Func<ReadOnlyMemory<byte>, Task> write,
        CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var rented = ArrayPool<byte>.Shared.Rent(chunkBytes);
        var buffer = rented.AsMemory(0, chunkBytes);
        try
        {
            long size = 0;
            int read;
            while ((read = await ReadFullAsync(source, buffer, cancellationToken)) > 0)
            {
                size += read;
                if (size > maxBytes) throw new ContentTooLargeException(maxBytes);
                hash.AppendData(buffer.Span[..read]);
                await write(buffer[..read]);
            }
            return new StoredUpdate(Convert.ToHexStringLower(hash.GetHashAndReset()), size);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Fills the buffer unless the stream ends, so chunks are full-sized whatever the source's read sizes.</summary>
    static async Task<int> ReadFullAsync(Stream source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int filled = 0, read;
        while (filled < buffer.Length && (read = await source.ReadAsync(buffer[filled..], cancellationToken)) > 0)
            filled += read;
        return filled;
    }

    /// <summary>A reference names a file or key: only a well-formed SHA-256 may, so nothing can point outside the store.</summary>
    public static void Validate(StoredUpdate reference)
    {
        if (reference.Sha256.Length != 64 || !reference.Sha256.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"'{reference.Sha256}' is not a lowercase hex SHA-256");
        if (reference.Size < 0) throw new ArgumentException($"negative size {reference.Size}");
    }

    public static void Verify(StoredUpdate reference, byte[] content)
    {
        if (content.Length != reference.Size)
            throw new ContentCorruptedException(reference, $"{content.Length:N0} bytes stored");
        string actual = Convert.ToHexStringLower(SHA256.HashData(content));
        if (actual != reference.Sha256)
            throw new ContentCorruptedException(reference, $"its bytes hash to {actual}");
    }
}
