using Federated.Protocol.V1;

namespace Federated.Agent.Trust;

/// <summary>
/// An adapter reference from the coordinator once checked: 64 lowercase hex digits (so it is safe as a file name: no
/// separator, no dot, never rooted) and a size in 1..<c>Agent:MaxAdapterBytes</c>. Every reference the agent acts on
/// (task history, init adapter, Done's model, upload receipts) passes through <see cref="From"/> first.
/// </summary>
public sealed record AdapterReference
{
    AdapterReference(string sha256, long size) => (Sha256, Size) = (sha256, size);

    public string Sha256 { get; }
    public long Size { get; }

    /// <param name="what">Names the reference in the refusal, e.g. "init_adapter".</param>
    /// <exception cref="CoordinatorInputException">Missing, not a lowercase hex SHA-256, or a size outside 1..<paramref name="maxBytes"/>.</exception>
    public static AdapterReference From(AdapterRef? adapter, string what, long maxBytes)
    {
        if (adapter is null)
            throw new CoordinatorInputException($"{what} is missing");
        if (!IsSha256(adapter.Sha256))
            throw new CoordinatorInputException($"{what}: sha256 '{CoordinatorText.Preview(adapter.Sha256)}' is not a SHA-256 (64 lowercase hex digits)");
        if (adapter.Size < 1 || adapter.Size > maxBytes)
            throw new CoordinatorInputException($"{what}: adapter {adapter.Sha256[..12]} declares {adapter.Size:N0} bytes; an adapter is 1 to {maxBytes:N0} bytes (Agent:MaxAdapterBytes)");
        return new(adapter.Sha256, adapter.Size);
    }

    /// <summary>A reference this agent wrote itself (its own update, its state files), checked the same way.</summary>
    public static bool IsSha256(string? value)
    {
        if (value is not { Length: 64 }) return false;
        foreach (char c in value)
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f')) return false;
        return true;
    }

    public AdapterRef ToProto() => new() { Sha256 = Sha256, Size = Size };

    public override string ToString() => $"{Sha256[..12]} ({Size:N0} bytes)";
}
