namespace Federated.Contracts;

/// <summary>
/// A payload in the update store, by content: SHA-256 (lowercase hex) and size. Grain messages carry these,
/// never adapter bytes.
/// </summary>
[GenerateSerializer, Immutable, Alias("fl.StoredUpdate")]
public sealed record StoredUpdate([property: Id(0)] string Sha256, [property: Id(1)] long Size)
{
    public override string ToString() => $"sha256:{Sha256[..Math.Min(12, Sha256.Length)]} ({Size:N0} bytes)";
}
