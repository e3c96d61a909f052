using System.Net;
using Federated.Coordinator.Tests.Api;

namespace Federated.Coordinator.Tests.Process;

/// <summary>The admin API is never open: what a coordinator does when no operator credentials are configured.</summary>
public sealed class OperatorStartupTests
{
    static readonly TimeSpan Exit = TimeSpan.FromSeconds(60);

    static string[] Lines(CoordinatorProcess p) =>
        (p.Output + p.Error).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public async Task Embedded_mode_without_credentials_generates_an_owner_only_admin_key_file_and_stays_closed_to_others()
    {
        int http = CoordinatorHost.FreePort();
        string data = Path.Combine(Path.GetTempPath(), "fed-local-key-" + Guid.NewGuid().ToString("N"));
        using var p = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{http}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}",
            "--Coordinator:InMemoryState=true", $"--Coordinator:DataDirectory={data}",
            $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
        ]);
        try
        {
            await p.WaitUntilServingAsync($"http://127.0.0.1:{http}/readyz", TimeSpan.FromSeconds(60));
            string file = Path.Combine(data, "operator-admin.key");
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            string key = File.ReadAllText(file).Trim();
            Assert.Matches("^fed_[A-Za-z0-9_-]{43}$", key);
            Assert.Contains(Lines(p), l => l.Contains("No operator credentials configured") && l.Contains(file));

            var address = new Uri($"http://127.0.0.1:{http}");
            using var anonymous = TestOperators.Client(address, key: null);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/federations")).StatusCode);
            using var local = TestOperators.Client(address, key);
            Assert.Equal(HttpStatusCode.OK, (await local.GetAsync("/api/federations")).StatusCode);
            Assert.Equal(0, await p.StopAsync(Exit));
        }
        finally
        {
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Cluster_mode_without_credentials_exits_with_one_line_naming_the_settings()
    {
        using var p = CoordinatorProcess.Start(["--Coordinator:Mode=Cluster", "--Coordinator:Redis=127.0.0.1:1",
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}"]);
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        string line = Assert.Single(Lines(p), l => l.Contains("coordinator not started"));
        Assert.Contains("no operator credentials: set Coordinator:Operators:ApiKeys:<name>:Sha256", line);
        Assert.Contains("Coordinator:Operators:Jwt:Authority", line);
        Assert.Contains("fed apikey create", line);
    }

    [Fact]
    public async Task A_malformed_key_hash_or_an_unknown_role_exits_with_one_line_naming_the_key()
    {
        string[] ports = [$"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", "--Coordinator:InMemoryState=true"];
        using (var p = CoordinatorProcess.Start([.. ports, "--Coordinator:Operators:ApiKeys:alice:Sha256=fed_plaintext-key", "--Coordinator:Operators:ApiKeys:alice:Roles=admin"]))
        {
            Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
            Assert.Contains("Coordinator:Operators:ApiKeys:alice:Sha256 must be 64 hex digits", Assert.Single(Lines(p), l => l.Contains("coordinator not started")));
        }
        using (var p = CoordinatorProcess.Start([.. ports, $"--Coordinator:Operators:ApiKeys:bob:Sha256={new string('a', 64)}", "--Coordinator:Operators:ApiKeys:bob:Roles=admin,root"]))
        {
            Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
            Assert.Contains("Coordinator:Operators:ApiKeys:bob:Roles: unknown role 'root'", Assert.Single(Lines(p), l => l.Contains("coordinator not started")));
        }
    }

    [Fact]
    public async Task An_admin_endpoint_that_Kestrel_does_not_define_exits_with_one_line()
    {
        using var p = CoordinatorProcess.Start([.. TestOperators.Args, "--Coordinator:Admin:Endpoint=admin", "--Coordinator:InMemoryState=true",
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{CoordinatorHost.FreePort()}"]);
        Assert.NotEqual(0, await p.WaitForExitAsync(Exit));
        Assert.Contains("Coordinator:Admin:Endpoint is 'admin', but Kestrel:Endpoints defines 'grpc', 'http'", Assert.Single(Lines(p), l => l.Contains("coordinator not started")));
    }

    [Fact]
    public async Task Over_TLS_the_admin_api_answers_on_the_admin_endpoint_and_404_on_the_agents_endpoint()
    {
        string dir = Directory.CreateTempSubdirectory("fed-admin-tls-").FullName;
        try
        {
            // A self-signed certificate for 127.0.0.1, as PEM files (what Kestrel:Endpoints:*:Certificate reads).
            using var key = System.Security.Cryptography.ECDsa.Create();
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            var names = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            string crt = Path.Combine(dir, "tls.crt"), pem = Path.Combine(dir, "tls.key");
            File.WriteAllText(crt, certificate.ExportCertificatePem());
            File.WriteAllText(pem, key.ExportPkcs8PrivateKeyPem());

            int http = CoordinatorHost.FreePort(), grpc = CoordinatorHost.FreePort();
            using var p = CoordinatorProcess.Start(
            [
                .. TestOperators.Args, "--Coordinator:InMemoryState=true", $"--Coordinator:DataDirectory={Path.Combine(dir, "data")}",
                $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
                $"--Kestrel:Endpoints:http:Url=https://127.0.0.1:{http}", "--Kestrel:Endpoints:http:Protocols=Http1AndHttp2",
                $"--Kestrel:Endpoints:http:Certificate:Path={crt}", $"--Kestrel:Endpoints:http:Certificate:KeyPath={pem}",
                $"--Kestrel:Endpoints:grpc:Url=https://127.0.0.1:{grpc}",
                $"--Kestrel:Endpoints:grpc:Certificate:Path={crt}", $"--Kestrel:Endpoints:grpc:Certificate:KeyPath={pem}",
            ]);
            // Trust exactly this certificate.
            using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, _, _) => c?.Thumbprint == certificate.Thumbprint };
            using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestOperators.ViewerKey);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                Assert.False(p.HasExited, string.Join('\n', Lines(p)));
                try
                {
                    if ((await client.GetAsync($"https://127.0.0.1:{http}/readyz")).IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                Assert.True(DateTime.UtcNow < deadline, string.Join('\n', Lines(p)));
                await Task.Delay(200);
            }
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"https://127.0.0.1:{http}/api/federations")).StatusCode);
            var onAgents = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{grpc}/api/federations") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(onAgents)).StatusCode);
            Assert.Equal(0, await p.StopAsync(Exit));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
