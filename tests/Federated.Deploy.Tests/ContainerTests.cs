using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Federated.Deploy.Tests;

/// <summary>
/// The Dockerfiles and deploy/compose.yaml, checked statically (no Docker engine here): they parse, point at files
/// that exist, and keep the properties the chart relies on (non-root numeric user, ports, no HEALTHCHECK).
/// </summary>
public partial class ContainerTests
{
    static string Dockerfile(string name) => File.ReadAllText(Repository.PathOf("deploy", name));

    /// <summary>Instructions with line continuations joined, comments dropped.</summary>
    static List<string> Instructions(string dockerfile) =>
        Regex.Replace(dockerfile, @"\\\r?\n", " ").Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

    /// <summary>Projects a Dockerfile publishes; a project another change is still adding may be absent.</summary>
    static void AssertPublishedProjectsExist(string dockerfile)
    {
        var projects = PublishRegex().Matches(dockerfile).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(projects);
        foreach (string project in projects)
        {
            bool pending = project == "src/Federated.Agent/Federated.Agent.csproj" && !Directory.Exists(Repository.PathOf("src", "Federated.Agent"));
            Assert.True(pending || File.Exists(Repository.PathOf(project)), $"dotnet publish {project}: no such project");
        }
    }

    static void AssertCopiedSourcesExist(string dockerfile)
    {
        foreach (string line in Instructions(dockerfile).Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=", StringComparison.Ordinal)))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1];
            foreach (string source in parts.Where(p => !p.StartsWith("--", StringComparison.Ordinal)))
                Assert.True(File.Exists(Repository.PathOf(source)) || Directory.Exists(Repository.PathOf(source.TrimEnd('/'))), $"COPY {source}: not in the repository");
        }
    }

    static string FinalUser(string dockerfile) =>
        Instructions(dockerfile).Last(l => l.StartsWith("USER ", StringComparison.Ordinal))[5..].Trim();

    [Fact]
    public void Coordinator_image_builds_with_the_sdk_and_runs_on_aspnet_as_a_numeric_non_root_user()
    {
        string file = Dockerfile("coordinator.Dockerfile");
        var from = Instructions(file).Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, from.Count);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build", from[0]);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}", from[1]);
        Assert.Contains("ARG DOTNET_VERSION=10.0", file);
        Assert.Matches(@"dotnet publish \S+ -c Release", file);
        Assert.Equal("1654:1654", FinalUser(file));
        string expose = Instructions(file).Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal));
        Assert.Equal(["5080", "5081", "11111", "30000"], expose.Split(' ')[1..]);
        Assert.DoesNotContain(Instructions(file), l => l.StartsWith("HEALTHCHECK", StringComparison.Ordinal));
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/Federated.Coordinator.dll\"]", file);
        AssertPublishedProjectsExist(file);
        AssertCopiedSourcesExist(file);
    }

    [Fact]
    public void Agent_image_defaults_to_cpu_and_has_a_cuda_variant()
    {
        string file = Dockerfile("agent.Dockerfile");
        Assert.Contains("ARG TORCH_BACKEND=cpu", file);
        Assert.Contains("-p:TorchBackend=${TORCH_BACKEND}", file);
        Assert.Matches(@"FROM \$\{CUDA_IMAGE\} AS base-cuda", file);
        Assert.Matches(@"ARG CUDA_IMAGE=nvidia/cuda:[0-9.]+-runtime-ubuntu", file);
        Assert.Matches(@"FROM mcr\.microsoft\.com/dotnet/runtime:\$\{DOTNET_VERSION\} AS base-cpu", file);
        // The default target (the last stage) is the agent, on the selected base.
        var stages = Instructions(file).Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal("FROM base-${TORCH_BACKEND} AS agent", stages[^1]);
        Assert.Contains(stages, s => s.EndsWith(" AS tools", StringComparison.Ordinal));
        Assert.Equal("1654:1654", FinalUser(file));
        Assert.DoesNotContain(Instructions(file), l => l.StartsWith("HEALTHCHECK", StringComparison.Ordinal));
        AssertPublishedProjectsExist(file);
        AssertCopiedSourcesExist(file);
    }

    [Fact]
    public void Docker_context_leaves_out_build_output_and_the_git_directory()
    {
        var ignored = File.ReadAllLines(Repository.PathOf(".dockerignore")).Select(l => l.Trim()).ToHashSet();
        foreach (string pattern in new[] { "**/bin/", "**/obj/", ".git/", ".tools/" })
            Assert.Contains(pattern, ignored);
        // ...but keeps what the Dockerfiles copy.
        foreach (string kept in new[] { "src/", "protos/", "global.json", "Directory.Build.props" })
            Assert.DoesNotContain(kept, ignored);
    }

    static YamlMappingNode Compose()
    {
        var docs = Yaml.Documents(File.ReadAllText(Repository.PathOf("deploy", "compose.yaml")));
        return Assert.Single(docs);
    }

    [Fact]
    public void Compose_services_build_from_existing_dockerfiles_and_targets()
    {
        var services = Compose().Entries("services").ToList();
        Assert.Contains(services, s => s.Key == "redis");
        foreach (var (name, service) in services)
        {
            if (service.Get("build") is not { } build)
            {
                Assert.False(string.IsNullOrEmpty(service.Str("image")), $"{name}: neither build nor image");
                continue;
            }
            string context = Path.GetFullPath(Path.Combine(Repository.PathOf("deploy"), build.Str("context")!));
            Assert.Equal(Repository.Root, context.TrimEnd('/'));
            string dockerfile = Path.Combine(context, build.Str("dockerfile")!);
            Assert.True(File.Exists(dockerfile), $"{name}: {dockerfile} does not exist");
            if (build.Str("target") is { } target)
                Assert.Matches($@"(?m)^FROM .+ AS {Regex.Escape(target)}\s*$", File.ReadAllText(dockerfile));
            foreach (var (arg, value) in build.Entries("args"))
                Assert.Contains($"ARG {arg}", File.ReadAllText(dockerfile));
        }
    }

    [Fact]
    public void Compose_runs_two_cluster_silos_on_redis_and_three_different_agents()
    {
        var services = Compose().Entries("services").ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("yes", string.Join(' ', services["redis"].Items("command").Cast<YamlScalarNode>().Select(n => n.Value)).Split("--appendonly ")[1].Split(' ')[0]);

        var silos = services.Where(s => s.Key.StartsWith("coordinator-", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, silos.Count);
        var hostPorts = new HashSet<string>();
        var advertised = new HashSet<string>();
        foreach (var (name, silo) in silos)
        {
            Assert.Equal("Cluster", silo.Str("environment", "Coordinator__Mode"));
            Assert.StartsWith("redis:6379", silo.Str("environment", "Coordinator__Redis"));
            string address = silo.Str("environment", "Coordinator__AdvertisedAddress")!;
            Assert.True(System.Net.IPAddress.TryParse(address, out _), $"{name}: AdvertisedAddress must be an IP address, not {address}");
            Assert.Equal(address, silo.Str("networks", "federated", "ipv4_address"));
            Assert.True(advertised.Add(address), $"{name}: address {address} used twice");
            Assert.Equal("true", silo.Str("environment", "Coordinator__AllowPlaintextOnNetwork"));
            Assert.Equal("true", silo.Str("read_only"));
            foreach (string port in silo.Items("ports").Cast<YamlScalarNode>().Select(p => p.Value!))
            {
                // Plaintext endpoints are published on the host's loopback only.
                Assert.StartsWith("127.0.0.1:", port);
                Assert.True(hostPorts.Add(port.Split(':')[1]), $"{name}: host port {port} used twice");
            }
        }

        var agents = services.Where(s => s.Key.StartsWith("agent-", StringComparison.Ordinal)).Select(s => s.Value).ToList();
        Assert.Equal(3, agents.Count);
        var data = agents.Select(a => a.Items("volumes").Cast<YamlScalarNode>().Single(v => v.Value!.EndsWith(":/data:ro", StringComparison.Ordinal)).Value!.Split(':')[0]).ToList();
        Assert.Equal(3, data.Distinct().Count());
        foreach (string dir in data)
            Assert.True(File.Exists(Path.Combine(Repository.PathOf("deploy"), dir, "train.jsonl")), $"{dir}/train.jsonl does not exist");
        Assert.Equal(3, agents.Select(a => a.Str("environment", "Agent__GpuMemoryBytes")).Distinct().Count());
        Assert.All(agents, a => Assert.Equal("demo", a.Str("environment", "Agent__FederationId")));
    }

    [GeneratedRegex(@"dotnet publish (\S+\.csproj)")]
    private static partial Regex PublishRegex();
}
