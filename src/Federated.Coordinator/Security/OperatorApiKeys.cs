using System.Security.Cryptography;
using System.Text;

namespace Federated.Coordinator.Security;

/// <summary>
/// The API keys the coordinator accepts, held as SHA-256 hashes only. A presented key is hashed and compared with
/// every configured hash in constant time, so neither timing nor an early exit says how close a guess was.
/// </summary>
public sealed class OperatorApiKeys(IReadOnlyList<OperatorApiKey> keys, string? generatedKeyFile = null)
{
    /// <summary>Longer bearer values are refused before hashing: keys are 48 characters.</summary>
    public const int MaxKeyLength = 256;

    public IReadOnlyList<OperatorApiKey> Keys => keys;

    /// <summary>Embedded mode without configured credentials: the file holding the generated admin key.</summary>
    public string? GeneratedKeyFile => generatedKeyFile;

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>A new key: "fed_" and 256 random bits, base64url (what <c>fed apikey create</c> prints).</summary>
    public static string NewKey() => "fed_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The key whose hash matches <paramref name="presented"/>'s, or null.</summary>
    public OperatorApiKey? Find(string presented)
    {
        byte[] hash = Hash(presented);
        OperatorApiKey? found = null;
        foreach (var key in keys)
            if (CryptographicOperations.FixedTimeEquals(hash, key.Sha256))
                found = key;
        return found;
    }
}
