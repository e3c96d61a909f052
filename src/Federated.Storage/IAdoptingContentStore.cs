using Federated.Contracts;

namespace Federated.Storage;

/// <summary>
/// A store that can take over a completed upload's bytes where the staging holds them instead of reading them: a file
/// renamed on the same file system, Redis chunks renamed on the same server. The bytes are written once.
/// </summary>
public interface IAdoptingContentStore : IContentStore
{
    /// <summary>
    /// Makes the staged bytes the stored payload <see cref="IStagedPayload.Reference"/>, as durable and as complete as
    /// <see cref="IContentStore.PutAsync"/> makes it, and returns the reference; the staged bytes are gone afterwards (moved,
    /// or deleted when the store already held them). Returns null, leaving them alone, when it cannot adopt this kind of
    /// staged payload (another file system, another server): then put its bytes.
    /// </summary>
    /// <exception cref="ContentTooLargeException">The payload exceeds the store's limit; the staged bytes are left alone.</exception>
    /// <exception cref="UploadNotFoundException">The staged bytes changed or vanished before they could be adopted.</exception>
    Task<StoredUpdate?> TryAdoptAsync(IStagedPayload staged, CancellationToken cancellationToken = default);
}

/// <summary>
/// A completed upload's bytes where the staging holds them, already verified against <see cref="Reference"/>: what an
/// <see cref="IAdoptingContentStore"/> may take over, and what a validating wrapper reads to check it first.
/// </summary>
public interface IStagedPayload
{
    StoredUpdate Reference { get; }

    /// <summary>Reads the staged bytes from the start, without taking them over.</summary>
    Task<Stream> OpenReadAsync(CancellationToken cancellationToken = default);
}

/// <summary>A staged file holding exactly the reference's bytes, flushed to disk.</summary>
public sealed record StagedFile(string Path, StoredUpdate Reference) : IStagedPayload
{
    public Task<Stream> OpenReadAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<Stream>(new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous));
}
