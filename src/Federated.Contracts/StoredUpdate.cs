namespace Federated.Contracts;

/// <summary>
/// A payload in the content store (an update, a round's global, an init, a merged model), by content: SHA-256 (lowercase
/// hex) and size. The one reference type from the wire mapping to the store; grain messages carry these, never bytes.
/// (The name predates globals in the store and stays: persisted grain state records it.)
/// </summary>
[GenerateSerializer, Immutable, Alias("fl.StoredUpdate")]
public sealed record StoredUpdate([property: Id(0)] string Sha256, [property: Id(1)] long Size)
{
    public override string ToString() => $"sha256:{Sha256[..Math.Min(12, Sha256.Length)]} ({Size:N0} bytes)";

    /// <summary>64 lowercase hex digits and a positive size: anything else names no stored payload.</summary>
    public static bool IsWellFormed(StoredUpdate? update) =>
        update is { Size: > 0, Sha256.Length: 64 } && update.Sha256.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
}
