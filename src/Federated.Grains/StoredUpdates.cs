using Federated.Contracts;
using Federated.Storage;

namespace Federated.Grains;

/// <summary>Between the contracts' reference and the store's (the contracts know no storage types).</summary>
public static class StoredUpdates
{
    public static UpdateReference ToReference(this StoredUpdate update) => new(update.Sha256, update.Size);

    public static StoredUpdate ToStoredUpdate(this UpdateReference reference) => new(reference.Sha256, reference.Size);

    public static bool IsWellFormed(StoredUpdate? update) =>
        update is { Size: > 0, Sha256.Length: 64 } && update.Sha256.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
}
