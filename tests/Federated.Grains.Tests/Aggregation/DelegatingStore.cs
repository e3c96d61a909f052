using Federated.Contracts;

namespace Federated.Grains.Tests.Aggregation;

/// <summary>A store that passes every call on to <see cref="Inner"/>: the tests' stores override only the calls they watch or refuse.</summary>
abstract class DelegatingStore(IContentStore inner) : IContentStore
{
    protected IContentStore Inner { get; } = inner;

    public virtual Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default) => Inner.PutAsync(content, cancellationToken);
    public virtual Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => Inner.ReadAsync(reference, cancellationToken);
    public virtual Task<byte[]> ReadRangeAsync(StoredUpdate reference, long offset, int count, CancellationToken cancellationToken = default) =>
        Inner.ReadRangeAsync(reference, offset, count, cancellationToken);
    public Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default) => Inner.OpenReadAsync(reference, offset, cancellationToken);
    public Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => Inner.ContainsAsync(reference, cancellationToken);
    public Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => Inner.DeleteAsync(reference, cancellationToken);
}
