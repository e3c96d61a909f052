using System.Security.Cryptography;
using Federated.Coordinator.Tests.Api;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Federated.Coordinator.Tests.Process;

/// <summary>
/// A real coordinator process that accepts <see cref="TestOperators"/>' keys, a key minted by <c>fed apikey create</c>
/// (configured through the environment variables it printed), and JWTs signed by this fixture's own RSA key.
/// </summary>
public sealed class SecuredCoordinator : IAsyncLifetime
{
    public const string Issuer = "https://issuer.federated.test", Audience = "federated-tests";

    readonly string _dir = System.IO.Directory.CreateTempSubdirectory("fed-secured-").FullName;
    readonly RSA _signingKey = RSA.Create(2048);
    CoordinatorProcess? _process;

    public CoordinatorProcess Process => _process ?? throw new InvalidOperationException("not started");
    public Uri Admin { get; private set; } = null!;
    public Uri Agents { get; private set; } = null!;
    public string Root => _dir;
    /// <summary>Minted by <c>fed apikey create --name minted --role viewer</c>.</summary>
    public string MintedKey { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string publicKey = Path.Combine(_dir, "operators-jwt.pem");
        await File.WriteAllTextAsync(publicKey, _signingKey.ExportSubjectPublicKeyInfoPem());
        var (minted, environment) = MintViewerKey();
        MintedKey = minted;
        int http = CoordinatorHost.FreePort(), grpc = CoordinatorHost.FreePort();
        Admin = new Uri($"http://127.0.0.1:{http}");
        Agents = new Uri($"http://127.0.0.1:{grpc}");
        _process = CoordinatorProcess.Start(
        [
            $"--Kestrel:Endpoints:http:Url={Admin}", $"--Kestrel:Endpoints:grpc:Url={Agents}", "--Coordinator:InMemoryState=true",
            $"--Coordinator:DataDirectory={Path.Combine(_dir, "data")}",
            $"--Coordinator:SiloPort={CoordinatorHost.FreePort()}", $"--Coordinator:GatewayPort={CoordinatorHost.FreePort()}",
            .. TestOperators.Args,
            $"--Coordinator:Operators:Jwt:SigningKeyFile={publicKey}", $"--Coordinator:Operators:Jwt:Issuer={Issuer}",
            $"--Coordinator:Operators:Jwt:Audience={Audience}",
        ], environment);
        await _process.WaitUntilServingAsync($"{Admin}readyz", TimeSpan.FromSeconds(90));
    }

    /// <summary>Runs <c>fed apikey create</c> and keeps the key and the environment variable lines it printed.</summary>
    static (string Key, Dictionary<string, string?> Environment) MintViewerKey()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Federated.Cli.FedCommandLine.Run(["apikey", "create", "--name", "minted", "--role", "viewer"], output, error);
        Assert.True(exit == 0, error.ToString());
        var lines = output.ToString().Split('\n', StringSplitOptions.TrimEntries);
        string key = Assert.Single(lines, l => l.StartsWith("fed_", StringComparison.Ordinal));
        var environment = lines.Where(l => l.StartsWith("Coordinator__", StringComparison.Ordinal))
            .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => (string?)p[1]);
        Assert.Equal(2, environment.Count);
        return (key, environment);
    }

    /// <summary>A token as an OIDC provider would issue it, signed by the configured key unless <paramref name="signer"/> is given.</summary>
    public string Token(string subject, string[]? roles, DateTime? expires = null, string audience = Audience, RSA? signer = null)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = subject };
        if (roles is not null) claims["roles"] = roles;
        DateTime until = expires ?? now.AddMinutes(10);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = until.AddMinutes(-20),
            NotBefore = until.AddMinutes(-20),
            Expires = until,
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(signer ?? _signingKey), SecurityAlgorithms.RsaSha256),
        });
    }

    /// <summary>Waits until the process has logged a line containing every one of <paramref name="parts"/>.</summary>
    public async Task<string> LogLineAsync(params string[] parts)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            string? line = (Process.Output + Process.Error).Split('\n').FirstOrDefault(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)));
            if (line is not null) return line;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"no log line with {string.Join(" and ", parts)}:\n{Process.Output}{Process.Error}");
            await Task.Delay(100);
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            if (!_process.HasExited) await _process.StopAsync(TimeSpan.FromSeconds(60));
            _process.Dispose();
        }
        _signingKey.Dispose();
        System.IO.Directory.Delete(_dir, recursive: true);
    }
}
