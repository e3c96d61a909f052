using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace Federated.Testing;

/// <summary>
/// Operator API keys every test coordinator accepts (Coordinator:Operators:ApiKeys), one per role, and the flags that
/// configure them. Linked into the agent tests and the benchmarks, so each coordinator they start is configured the same way.
/// </summary>
public static class TestOperators
{
    public const string AdminName = "test-admin", ViewerName = "test-viewer", DownloadName = "test-download";
    public const string AdminKey = "fed_test-admin-key-0123456789abcdefghijklmnopqrstuv";
    public const string ViewerKey = "fed_test-viewer-key-0123456789abcdefghijklmnopqrstu";
    public const string DownloadKey = "fed_test-download-key-0123456789abcdefghijklmnopqrs";

    public static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Command-line flags for a coordinator that accepts the three keys.</summary>
    public static string[] Args =>
    [
        .. KeyArgs(AdminName, AdminKey, "admin"),
        .. KeyArgs(ViewerName, ViewerKey, "viewer"),
        .. KeyArgs(DownloadName, DownloadKey, "download"),
    ];

    public static string[] KeyArgs(string name, string key, string roles) =>
        [$"--Coordinator:Operators:ApiKeys:{name}:Sha256={Sha256(key)}", $"--Coordinator:Operators:ApiKeys:{name}:Roles={roles}"];

    /// <summary>An HTTP client for the admin API that sends <paramref name="key"/> (the admin's by default).</summary>
    public static HttpClient Client(Uri address, string? key = AdminKey, TimeSpan? timeout = null)
    {
        var http = new HttpClient { BaseAddress = address, Timeout = timeout ?? TimeSpan.FromSeconds(100) };
        if (key is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }
}
