using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Federated.SystemTests.Processes;

/// <summary>The coordinator's admin HTTP API (src/Federated.Coordinator/Admin), as an operator drives it (with the admin's API key).</summary>
/// <param name="timeout">Of each request (default 30 s).</param>
public sealed class CoordinatorAdmin(Uri address, TimeSpan? timeout = null) : IDisposable
{
    readonly HttpClient _http = TestOperators.Client(address, TestOperators.AdminKey, timeout ?? TimeSpan.FromSeconds(30));

    public const string EnrollmentToken = "agent-tests-enrollment-token-0123456789";

    public static int FreePort() => FreePorts.Loopback();

    /// <summary>Flags for a coordinator process on free loopback ports that enrolls agents with <see cref="EnrollmentToken"/> and accepts <see cref="TestOperators"/>' keys.</summary>
    public static (string[] Args, Uri Http, Uri Grpc) ProcessArgs(params string[] extra)
    {
        int http = FreePort(), grpc = FreePort();
        return ([
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{http}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{grpc}",
            $"--Coordinator:SiloPort={FreePort()}", $"--Coordinator:GatewayPort={FreePort()}",
            $"--Coordinator:EnrollmentTokens:*:0={EnrollmentToken}", .. TestOperators.Args, .. extra,
        ], new Uri($"http://127.0.0.1:{http}"), new Uri($"http://127.0.0.1:{grpc}"));
    }

    /// <summary>The tiny preset every agent test trains (<see cref="TestFiles.TinyModel"/>): what its config.json pins.</summary>
    public static readonly object TinyArchitecture = new { hiddenSize = 64, numHiddenLayers = 2, numAttentionHeads = 4, numKeyValueHeads = 2, intermediateSize = 176 };

    /// <param name="config">The API's config object; without an "architecture", the tiny preset's (<see cref="TinyArchitecture"/>).</param>
    public async Task CreateFederationAsync(string id, object config)
    {
        var body = JsonSerializer.SerializeToNode(config, Json)!.AsObject();
        body.TryAdd("architecture", JsonSerializer.SerializeToNode(TinyArchitecture, Json));
        var response = await _http.PostAsJsonAsync("/api/federations", new { id, config = body });
        Assert.True(response.IsSuccessStatusCode, $"create {id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Starts the federation once enough agents have enrolled (the API answers 409 until then).</summary>
    public async Task StartWhenEnrolledAsync(string id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var response = await _http.PostAsync($"/api/federations/{id}/start", null);
            if (response.IsSuccessStatusCode) return;
            string body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.Conflict || DateTime.UtcNow > deadline)
                Assert.Fail($"start {id}: {(int)response.StatusCode} {body}");
            await Task.Delay(250);
        }
    }

    /// <summary>One start request: 409 Conflict while too few agents have enrolled.</summary>
    public async Task<HttpStatusCode> TryStartAsync(string id) => (await _http.PostAsync($"/api/federations/{id}/start", null)).StatusCode;

    public async Task<JsonNode> GetAsync(string path) => JsonNode.Parse(await _http.GetStringAsync(path))!;

    /// <summary>Revokes a client's credential, as <c>fed client revoke</c> does.</summary>
    public async Task RevokeClientAsync(string clientId)
    {
        var response = await _http.PostAsync($"/api/clients/{clientId}/revoke", null);
        Assert.True(response.IsSuccessStatusCode, $"revoke {clientId}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    public async Task<JsonNode> WaitForStatusAsync(string id, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var federation = await GetAsync($"/api/federations/{id}");
            if (federation["status"]!.GetValue<string>() == status) return federation;
            if (DateTime.UtcNow > deadline) Assert.Fail($"federation {id} is not {status} after {timeout}: {federation.ToJsonString()}");
            await Task.Delay(500);
        }
    }

    public Task<byte[]> GlobalAdapterAsync(string id, int round) => _http.GetByteArrayAsync($"/api/federations/{id}/adapter?round={round}");

    /// <summary>The federation's whole model as one adapter payload (what <c>fed adapter download</c> fetches).</summary>
    public Task<byte[]> ModelAsync(string id, string query = "") => _http.GetByteArrayAsync($"/api/federations/{id}/model{query}");

    /// <summary>A download's SHA-256 and length, hashed as it streams in (for payloads larger than a byte array).</summary>
    public async Task<(string Sha256, long Size)> HashDownloadAsync(string path)
    {
        using var response = await _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode}");
        await using var body = await response.Content.ReadAsStreamAsync();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long size = 0;
        for (int read; (read = await body.ReadAsync(buffer)) > 0; size += read) hash.AppendData(buffer, 0, read);
        return (Convert.ToHexStringLower(hash.GetHashAndReset()), size);
    }

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    public void Dispose() => _http.Dispose();
}
