namespace Federated.Contracts;

/// <summary>
/// Where payloads (adapter bytes: clients' updates, round globals, inits, merged models) live, so that grain messages carry only references. Writes are
/// content-addressed and complete, durable and verified before a reference is returned; storing the
/// same bytes twice yields the same reference and keeps one copy.
/// </summary>
public interface IContentStore
{
    /// <summary>
    /// Stores <paramref name="content"/>, read to its end before anything becomes visible: a read that throws (even
    /// the last one, which the upload staging uses to refuse bytes whose hash is wrong) leaves nothing stored.
    /// </summary>
    /// <exception cref="ContentTooLargeException">The content exceeds the store's limit; nothing is kept.</exception>
    Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default);

    /// <summary>The whole payload, checked against its SHA-256 and size.</summary>
    /// <exception cref="ContentNotFoundException"/>
    /// <exception cref="ContentCorruptedException">The stored bytes no longer match the reference.</exception>
    Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default);

    /// <summary>The payload from <paramref name="offset"/> on, for resumable downloads (the reader verifies the hash).</summary>
    /// <exception cref="ContentNotFoundException"/>
    Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// <paramref name="count"/> bytes from <paramref name="offset"/>: a module's factors, for an aggregation that reads an update
    /// module by module. The range is not checked against the payload's hash (only a whole read can be): the hash was
    /// verified when the payload was stored.
    /// </summary>
    /// <exception cref="ContentNotFoundException"/>
    /// <exception cref="ContentCorruptedException">The payload ends before the range does.</exception>
    async Task<byte[]> ReadRangeAsync(StoredUpdate reference, long offset, int count, CancellationToken cancellationToken = default)
    {
        CheckRange(reference, offset, count);
        await using var stream = await OpenReadAsync(reference, offset, cancellationToken);
        var bytes = new byte[count];
        try { await stream.ReadExactlyAsync(bytes, cancellationToken); }
        catch (EndOfStreamException e) { throw new ContentCorruptedException(reference, $"it ends before byte {offset + count:N0} ({e.Message})"); }
        return bytes;
    }

    /// <summary>
    /// The bytes from <paramref name="offset"/> on into <paramref name="destinations"/>, filled in order and laid end to end (a
    /// module's two factors from one range): a store that can copies its reply straight into the caller's memory (a tensor's),
    /// with no array between. Checked and refused as <see cref="ReadRangeAsync(StoredUpdate, long, int, CancellationToken)"/>.
    /// </summary>
    async Task ReadRangeIntoAsync(StoredUpdate reference, long offset, IReadOnlyList<Memory<byte>> destinations, CancellationToken cancellationToken = default)
    {
        var bytes = await ReadRangeAsync(reference, offset, TotalLength(destinations), cancellationToken);
        Scatter(bytes, 0, destinations);
    }

    /// <summary>How many bytes <paramref name="destinations"/> hold together.</summary>
    protected static int TotalLength(IReadOnlyList<Memory<byte>> destinations)
    {
        long total = 0;
        foreach (var d in destinations) total += d.Length;
        return checked((int)total);
    }

    /// <summary>Copies <paramref name="source"/> to position <paramref name="at"/> of <paramref name="destinations"/> laid end to end.</summary>
    static void Scatter(ReadOnlySpan<byte> source, long at, IReadOnlyList<Memory<byte>> destinations)
    {
        foreach (var destination in destinations)
        {
            if (source.IsEmpty) return;
            if (at >= destination.Length)
            {
                at -= destination.Length;
                continue;
            }
            int count = (int)Math.Min(destination.Length - at, source.Length);
            source[..count].CopyTo(destination.Span[(int)at..]);
            source = source[count..];
            at = 0;
        }
        if (!source.IsEmpty) throw new ArgumentException("more bytes than the destinations hold", nameof(source));
    }

    /// <summary>Refuses a range that is not within the payload, before anything is read.</summary>
    protected static void CheckRange(StoredUpdate reference, long offset, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (offset < 0 || offset + count > reference.Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"bytes [{offset}, {offset + count}) are not within the {reference.Size:N0}-byte payload");
    }

    Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default);

    /// <summary>Removes the payload if present.</summary>
    Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default);
}

public class ContentStoreException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class ContentNotFoundException(StoredUpdate reference)
    : ContentStoreException($"no stored update {reference}");

public sealed class ContentCorruptedException(StoredUpdate reference, string detail)
    : ContentStoreException($"stored update {reference} is corrupted: {detail}");

public sealed class ContentTooLargeException(long limit)
    : ContentStoreException($"the update exceeds the {limit:N0}-byte limit");
