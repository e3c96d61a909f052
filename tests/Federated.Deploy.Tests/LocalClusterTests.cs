using System.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace Federated.Deploy.Tests;

/// <summary>
/// deploy/local-cluster.sh reads its settings from deploy/compose.yaml; its --dry-run (which starts nothing) must come
/// out as the compose configuration on loopback. The cluster itself runs in Federated.Agent.Tests (MultiSiloClusterTests).
/// </summary>
public sealed class LocalClusterTests
{
    static readonly Lazy<string[]> DryRun = new(() =>
    {
        var start = new ProcessStartInfo("bash", [Repository.PathOf("deploy", "local-cluster.sh"), "--dry-run"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment.Remove("FED_ENROLLMENT_TOKEN");
        start.Environment.Remove("FED_LOCAL_PORTS");
        start.Environment.Remove("FED_API_KEY");
        start.Environment.Remove("FED_API_KEY_SHA256");
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd(), error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"local-cluster.sh --dry-run: exit {p.ExitCode}\n{output}{error}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    });

    static Dictionary<string, string> Settings(string service) =>
        DryRun.Value.Single(l => l.StartsWith(service + ": ", StringComparison.Ordinal))[(service.Length + 2)..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);

    static Dictionary<string, YamlNode> Services()
    {
        var compose = Assert.Single(Yaml.Documents(File.ReadAllText(Repository.PathOf("deploy", "compose.yaml"))));
        return compose.Entries("services").ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    [Fact]
    public void The_local_silos_form_the_compose_cluster_on_distinct_loopback_ports_and_a_local_append_only_redis()
    {
        var services = Services();
        var silos = new[] { Settings("coordinator-1"), Settings("coordinator-2") };
        foreach (var (silo, name) in silos.Zip(new[] { "coordinator-1", "coordinator-2" }))
        {
            var compose = services[name];
            foreach (string key in new[] { "Coordinator__Mode", "Coordinator__ClusterId", "Coordinator__ServiceId" })
                Assert.Equal(compose.Str("environment", key), silo[key]);
            Assert.Equal("compose-demo-enrollment-token-0001", silo["Coordinator__EnrollmentTokens__demo__0"]);
            Assert.Equal("127.0.0.1", silo["Coordinator__AdvertisedAddress"]);
            Assert.Equal("glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1", silo["GLIBC_TUNABLES"]); // the coordinator image's
            Assert.StartsWith("127.0.0.1:", silo["Coordinator__Redis"]);
            Assert.StartsWith("http://127.0.0.1:", silo["Kestrel__Endpoints__http__Url"]);
            Assert.StartsWith("http://127.0.0.1:", silo["Kestrel__Endpoints__grpc__Url"]);
        }
        Assert.Equal(silos[0]["Coordinator__Redis"], silos[1]["Coordinator__Redis"]);
        var ports = silos.SelectMany(s => new[] { s["Coordinator__SiloPort"], s["Coordinator__GatewayPort"],
            s["Kestrel__Endpoints__http__Url"].Split(':')[^1], s["Kestrel__Endpoints__grpc__Url"].Split(':')[^1] }).ToList();
        Assert.Equal(8, ports.Distinct().Count());
        Assert.Contains(DryRun.Value, l => l.StartsWith("redis-server ", StringComparison.Ordinal) && l.Contains("--appendonly yes", StringComparison.Ordinal));
    }

    [Fact]
    public void The_local_federation_and_agents_are_the_compose_ones_with_silo_addresses_on_loopback()
    {
        var services = Services();
        string composeCreate = string.Join(' ', services["federation"].Items("command").Cast<YamlScalarNode>().Select(n => n.Value));
        string create = Assert.Single(DryRun.Value, l => l.StartsWith("fed federation create ", StringComparison.Ordinal));
        // The local model directory stands where compose mounts the base model.
        string flags = System.Text.RegularExpressions.Regex.Replace(create[(create.IndexOf(" --base-model", StringComparison.Ordinal) + 1)..],
            @"--base-model-dir \S+", "--base-model-dir /models/base");
        Assert.Contains(flags + ";", string.Join(' ', composeCreate.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));

        var silo1 = Settings("coordinator-1")["Kestrel__Endpoints__grpc__Url"];
        var silo2 = Settings("coordinator-2")["Kestrel__Endpoints__grpc__Url"];
        for (int n = 1; n <= 3; n++)
        {
            var agent = Settings($"agent-{n}");
            var compose = services[$"agent-{n}"];
            Assert.Equal(compose.Str("environment", "Agent__GpuMemoryBytes"), agent["Agent__GpuMemoryBytes"]);
            Assert.Equal(compose.Str("environment", "Agent__FederationId"), agent["Agent__FederationId"]);
            Assert.Equal(compose.Str("environment", "Agent__Coordinator")!.Replace("http://coordinator-1:5081", silo1).Replace("http://coordinator-2:5081", silo2),
                agent["Agent__Coordinator"]);
            Assert.EndsWith($"deploy/compose/data/agent-{n}/train.jsonl", agent["Agent__Data"]);
        }
        // Agents start on different silos, each with the other as its fallback.
        Assert.NotEqual(Settings("agent-1")["Agent__Coordinator"].Split(',')[0], Settings("agent-3")["Agent__Coordinator"].Split(',')[0]);
    }

    [Fact]
    public void The_local_silos_accept_the_compose_operator_key_that_fed_uses()
    {
        var services = Services();
        string key = Assert.Single(DryRun.Value, l => l.StartsWith("fed: FED_API_KEY=", StringComparison.Ordinal))["fed: FED_API_KEY=".Length..];
        Assert.Equal(services["federation"].Str("environment", "FED_API_KEY"), "${FED_API_KEY:-" + key + "}");
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
        foreach (string silo in new[] { "coordinator-1", "coordinator-2" })
        {
            Assert.Equal(hash, Settings(silo)["Coordinator__Operators__ApiKeys__demo__Sha256"]);
            Assert.Equal("admin", Settings(silo)["Coordinator__Operators__ApiKeys__demo__Roles"]);
            Assert.Equal("${FED_API_KEY_SHA256:-" + hash + "}", services[silo].Str("environment", "Coordinator__Operators__ApiKeys__demo__Sha256"));
        }
    }
}
