using System.Security.Cryptography;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The shape of the credentials Register issues, <c>c-</c> + 16 hex digits, '.', 43 base64url characters: anything else
/// is refused without a grain lookup (a made-up credential of the right shape still costs one, within the address's budget).
/// </summary>
public static class CredentialFormat
{
    public const int ClientIdHexDigits = 16, SecretLength = 43;
    public const int Length = 2 + ClientIdHexDigits + 1 + SecretLength;

    /// <summary>A new credential of <paramref name="clientId"/>: a 256-bit random secret, base64url.</summary>
    public static string Issue(string clientId) =>
        $"{clientId}.{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_')}";

    public static bool IsIssued(string credential) =>
        credential.Length == Length && credential.StartsWith("c-", StringComparison.Ordinal) && credential[2 + ClientIdHexDigits] == '.'
        && credential.AsSpan(2, ClientIdHexDigits).ContainsAnyExcept("0123456789abcdef") == false
        && credential.AsSpan(Length - SecretLength).ContainsAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == false;
}
