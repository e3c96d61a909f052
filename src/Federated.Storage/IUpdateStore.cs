namespace Federated.Storage;

/// <summary>A stored update's identity: the SHA-256 of its bytes (lowercase hex) and their count.</summary>
public sealed record UpdateReference(string Sha256, long Size)
{
    public override string ToString() => $"sha256:{Sha256} ({Size:N0} bytes)";
}

/// <summary>
/// Where update payloads (adapter bytes) live, so that grain messages carry only references. Writes are
/// content-addressed and complete, durable and verified before a reference is returned; storing the
/// same bytes twice yields the same reference and keeps one copy.
/// </summary>
public interface IUpdateStore
{
    /// <summary>
    /// Stores <paramref name="content"/>, read to its end before anything becomes visible: a read that throws (even
    /// the last one, which the upload staging uses to refuse bytes whose hash is wrong) leaves nothing stored.
    /// </summary>
    /// <exception cref="UpdateTooLargeException">The content exceeds the store's limit; nothing is kept.</exception>
    Task<UpdateReference> PutAsync(Stream content, CancellationToken cancellationToken = default);

    /// <summary>The whole payload, checked against its SHA-256 and size.</summary>
    /// <exception cref="UpdateNotFoundException"/>
    /// <exception cref="UpdateCorruptedException">The stored bytes no longer match the reference.</exception>
    Task<byte[]> ReadAsync(UpdateReference reference, CancellationToken cancellationToken = default);

    /// <summary>The payload from <paramref name="offset"/> on, for resumable downloads (the reader verifies the hash).</summary>
    /// <exception cref="UpdateNotFoundException"/>
    Task<Stream> OpenReadAsync(UpdateReference reference, long offset = 0, CancellationToken cancellationToken = default);

    Task<bool> ContainsAsync(UpdateReference reference, CancellationToken cancellationToken = default);

    /// <summary>Removes the payload if present.</summary>
    Task DeleteAsync(UpdateReference reference, CancellationToken cancellationToken = default);
}

/// <summary>
/// A store that can take over a complete file in place of reading it: the upload staging hands over its verified file
/// (a rename on the same file system) instead of writing every byte a second time.
/// </summary>
public interface IAdoptingUpdateStore : IUpdateStore
{
    /// <summary>
    /// Makes <paramref name="verifiedFile"/> the stored payload <paramref name="reference"/>, as durable and as complete as
    /// <see cref="IUpdateStore.PutAsync"/> makes it, and returns the reference; the file is gone afterwards (moved, or
    /// deleted when the store already held these bytes). Returns null, leaving the file alone, when it cannot adopt it
    /// (e.g. another file system): then put its bytes.
    /// </summary>
    /// <param name="verifiedFile">Holds exactly the bytes of <paramref name="reference"/> (the caller verified them) and is flushed to disk.</param>
    /// <exception cref="UpdateTooLargeException">The payload exceeds the store's limit; the file is left alone.</exception>
    Task<UpdateReference?> TryAdoptAsync(string verifiedFile, UpdateReference reference, CancellationToken cancellationToken = default);
}

public class UpdateStoreException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class UpdateNotFoundException(UpdateReference reference)
    : UpdateStoreException($"no stored update {reference}");

public sealed class UpdateCorruptedException(UpdateReference reference, string detail)
    : UpdateStoreException($"stored update {reference} is corrupted: {detail}");

public sealed class UpdateTooLargeException(long limit)
    : UpdateStoreException($"the update exceeds the {limit:N0}-byte limit");
