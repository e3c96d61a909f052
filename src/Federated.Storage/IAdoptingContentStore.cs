using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// A store that can take over a complete file in place of reading it: the upload staging hands over its verified file
/// (a rename on the same file system) instead of writing every byte a second time.
/// </summary>
public interface IAdoptingContentStore : IContentStore
{
    /// <summary>
    /// Makes <paramref name="verifiedFile"/> the stored payload <paramref name="reference"/>, as durable and as complete as
    /// <see cref="IContentStore.PutAsync"/> makes it, and returns the reference; the file is gone afterwards (moved, or
    /// deleted when the store already held these bytes). Returns null, leaving the file alone, when it cannot adopt it
    /// (e.g. another file system): then put its bytes.
    /// </summary>
    /// <param name="verifiedFile">Holds exactly the bytes of <paramref name="reference"/> (the caller verified them) and is flushed to disk.</param>
    /// <exception cref="ContentTooLargeException">The payload exceeds the store's limit; the file is left alone.</exception>
    Task<StoredUpdate?> TryAdoptAsync(string verifiedFile, StoredUpdate reference, CancellationToken cancellationToken = default);
}

