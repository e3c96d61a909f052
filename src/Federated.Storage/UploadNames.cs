using System.Security.Cryptography;
using System.Text;
using Federated.Contracts;

namespace Federated.Storage;

static class UploadNames
{
    public const int MaxOwnerLength = 256;

    public static bool IsValidUploadId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static void ValidateIds(string owner, string uploadId)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(uploadId);
        if (owner.Length is 0 or > MaxOwnerLength)
            throw new ArgumentException($"owner must have 1 to {MaxOwnerLength} characters");
        if (!IsValidUploadId(uploadId))
            throw new ArgumentException($"upload id '{uploadId}': use 1 to 64 letters, digits, '-' or '_'");
    }

    /// <summary>Checks the ticket and returns it with the hash in lowercase, the form compared and stored.</summary>
    public static UploadTicket Normalize(UploadTicket ticket, long maxBytes)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ValidateIds(ticket.Owner, ticket.UploadId);
        string sha = ticket.Sha256?.ToLowerInvariant() ?? "";
        if (sha.Length != 64 || !sha.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"'{ticket.Sha256}' is not a hex SHA-256");
        if (ticket.Size <= 0) throw new ArgumentException($"size must be positive, not {ticket.Size}");
        if (ticket.Size > maxBytes) throw new UploadTooLargeException(ticket.Size, maxBytes);
        return ticket with { Sha256 = sha };
    }

    /// <summary>
    /// Client ids are free-form (they are not validated anywhere upstream), so they never become file
    /// names or key parts themselves: a hash cannot escape the root, collide on a case-insensitive file
    /// system or change a Redis hash tag. The owner is also stored and compared in full.
    /// </summary>
    public static string OwnerKey(string owner) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(owner)), 0, 16);
}
