using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Federated.Benchmarks.Security;

/// <summary>
/// The one place that says how the attacked coordinator is configured: credentials, enrollment tokens and limits, as
/// command-line configuration (<c>--Section:Key=value</c>). Adjust here when the defences' settings change names or
/// defaults; the attacks only use what this class exposes.
/// </summary>
static class CoordinatorLaunch
{
    /// <summary>Agents enroll with this token (any federation).</summary>
    public const string EnrollmentToken = "security-suite-enrollment-token-0123456789";

    /// <summary>The operator's keys: the suite sends them as <c>Authorization: Bearer</c>; the coordinator holds only their SHA-256.</summary>
    public const string AdminKey = "security-suite-admin-key-0123456789abcdef0123456789";
    public const string ViewerKey = "security-suite-viewer-key-0123456789abcdef012345678";

    /// <summary>How many Register calls from one address the coordinator lets through before it rate-limits (its burst).</summary>
    public const int RegistrationBurst = 60;

    /// <summary>How long an upload may sit without a byte before its staging is discarded (abandoned-upload).</summary>
    public static readonly TimeSpan UploadIdleTimeout = TimeSpan.FromSeconds(5);

    /// <param name="redis">Cluster mode with this StackExchange.Redis configuration; embedded (state in memory, files under <paramref name="data"/>) when null.</param>
    /// <param name="clusterId">Cluster mode: silos given the same id form one cluster; a fresh id when null.</param>
    public static (List<string> Args, Uri Admin, Uri Agents) Args(string data, string? redis, string? clusterId = null)
    {
        int http = FreePort(), grpc = FreePort();
        var args = new List<string>
        {
            $"--Kestrel:Endpoints:http:Url=http://127.0.0.1:{http}", $"--Kestrel:Endpoints:grpc:Url=http://127.0.0.1:{grpc}",
            $"--Coordinator:SiloPort={FreePort()}", $"--Coordinator:GatewayPort={FreePort()}",
            $"--Coordinator:DataDirectory={data}",
            // Information, as in production: the log-injection attack reads what the text log would show.
            "--Serilog:MinimumLevel:Default=Information",
            // Enrollment: a reusable bootstrap token (operators' per-federation tokens have use limits; the attacks need many agents).
            $"--Coordinator:EnrollmentTokens:*:0={EnrollmentToken}",
            // Operators: an admin and a viewer key, by hash.
            $"--Coordinator:Operators:ApiKeys:suite-admin:Sha256={Sha256(AdminKey)}", "--Coordinator:Operators:ApiKeys:suite-admin:Roles=admin,viewer,download",
            $"--Coordinator:Operators:ApiKeys:suite-viewer:Sha256={Sha256(ViewerKey)}", "--Coordinator:Operators:ApiKeys:suite-viewer:Roles=viewer",
            // Abandoned uploads expire after this idle time (swept every quarter of it).
            $"--Coordinator:Staging:IdleTimeout={UploadIdleTimeout:c}",
        };
        if (redis is null)
            args.Add("--Coordinator:InMemoryState=true");
        else
            args.AddRange(["--Coordinator:Mode=Cluster", $"--Coordinator:Redis={redis}", "--Coordinator:AdvertisedAddress=127.0.0.1",
                $"--Coordinator:ClusterId={clusterId ?? $"security-{Guid.NewGuid():N}"}"]);
        return (args, new Uri($"http://127.0.0.1:{http}"), new Uri($"http://127.0.0.1:{grpc}"));
    }

    public static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static int FreePort() => Federated.Testing.FreePorts.Loopback();

    public static string Text(TimeSpan t) => t.ToString("c", CultureInfo.InvariantCulture);
}
