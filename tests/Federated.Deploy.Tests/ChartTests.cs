using System.Text;
using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace Federated.Deploy.Tests;

/// <summary>The Helm chart rendered with its defaults and each documented option set (helm/federated/ci/*.yaml).</summary>
public class ChartTests
{
    public static IEnumerable<object[]> OptionSets() => Helm.OptionSets();

    static readonly string[] Workloads = ["StatefulSet", "Deployment", "DaemonSet", "Job", "ReplicaSet"];

    static IEnumerable<(YamlMappingNode Doc, YamlNode Pod)> PodSpecs(List<YamlMappingNode> docs) =>
        docs.Where(d => Workloads.Contains(d.Kind())).Select(d => (d, d.Get("spec", "template", "spec")!));

    static YamlNode Coordinator(List<YamlMappingNode> docs) =>
        docs.Single(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-coordinator");

    static YamlNode CoordinatorContainer(List<YamlMappingNode> docs) =>
        Coordinator(docs).Items("spec", "template", "spec", "containers").Single(c => c.Str("name") == "coordinator");

    static JsonElement AppSettings(List<YamlMappingNode> docs)
    {
        var map = docs.Single(d => d.Kind() == "ConfigMap" && d.Name() == $"{Helm.Release}-federated-config");
        return JsonDocument.Parse(map.Str("data", "appsettings.Production.json")!).RootElement;
    }

    static bool Tls(List<YamlMappingNode> docs) =>
        AppSettings(docs).GetProperty("Kestrel").GetProperty("Endpoints").GetProperty("grpc").GetProperty("Url").GetString()!.StartsWith("https://", StringComparison.Ordinal);

    static string? Env(YamlNode container, string name) =>
        container.Items("env").FirstOrDefault(e => e.Str("name") == name) is { } e ? e.Str("value") ?? $"<from {string.Join(',', e.Entries("valueFrom").Select(kv => kv.Key))}>" : null;

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Lint_passes_strict(string optionSet)
    {
        var (code, stdout, stderr) = Helm.Run(["lint", "--strict", Helm.Chart, .. Helm.ValuesArgs(optionSet)]);
        Assert.True(code == 0, $"helm lint --strict ({optionSet}): {stdout}{stderr}");
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Every_container_is_non_root_read_only_without_capabilities_and_bounded(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var pods = PodSpecs(docs).ToList();
        Assert.NotEmpty(pods);
        foreach (var (doc, pod) in pods)
        {
            string where = $"{doc.Kind()}/{doc.Name()}";
            Assert.Equal("true", pod.Str("securityContext", "runAsNonRoot"));
            Assert.True(int.TryParse(pod.Str("securityContext", "runAsUser"), out int podUid) && podUid > 0, $"{where}: numeric non-root runAsUser");
            Assert.Equal("RuntimeDefault", pod.Str("securityContext", "seccompProfile", "type"));
            Assert.Equal("false", pod.Str("automountServiceAccountToken"));
            var containers = pod.Items("containers").Concat(pod.Items("initContainers")).ToList();
            Assert.NotEmpty(containers);
            foreach (var c in containers)
            {
                string what = $"{where} container {c.Str("name")}";
                var sc = c.Get("securityContext");
                Assert.True(sc.Str("runAsNonRoot") == "true", $"{what}: runAsNonRoot");
                Assert.True(int.TryParse(sc.Str("runAsUser"), out int uid) && uid > 0, $"{what}: numeric non-root runAsUser");
                Assert.True(sc.Str("readOnlyRootFilesystem") == "true", $"{what}: readOnlyRootFilesystem");
                Assert.True(sc.Str("allowPrivilegeEscalation") == "false", $"{what}: allowPrivilegeEscalation");
                Assert.Contains("ALL", sc.Items("capabilities", "drop").Select(n => ((YamlScalarNode)n).Value));
                foreach (string r in new[] { "cpu", "memory" })
                {
                    Assert.False(string.IsNullOrEmpty(c.Str("resources", "limits", r)), $"{what}: resources.limits.{r}");
                    Assert.False(string.IsNullOrEmpty(c.Str("resources", "requests", r)), $"{what}: resources.requests.{r}");
                }
                // A read-only root needs a writable /tmp.
                Assert.Contains("/tmp", c.Items("volumeMounts").Select(m => m.Str("mountPath")));
            }
        }
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Coordinator_probes_the_health_endpoints(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var c = CoordinatorContainer(docs);
        string scheme = Tls(docs) ? "HTTPS" : "HTTP";
        foreach (string probe in new[] { "livenessProbe", "startupProbe" })
        {
            Assert.Equal("/healthz", c.Str(probe, "httpGet", "path"));
            Assert.Equal("http-admin", c.Str(probe, "httpGet", "port"));
            Assert.Equal(scheme, c.Str(probe, "httpGet", "scheme"));
        }
        var readiness = c.Get("readinessProbe");
        if (readiness.Get("grpc") is { } grpc)
        {
            // The kubelet's gRPC probe speaks plaintext only: never against a TLS endpoint.
            Assert.False(Tls(docs));
            Assert.Equal("5081", grpc.Str("port"));
        }
        else
        {
            Assert.Equal("/readyz", readiness.Str("httpGet", "path"));
            Assert.Equal(scheme, readiness.Str("httpGet", "scheme"));
        }
        var admin = c.Items("ports").Single(p => p.Str("name") == "http-admin");
        Assert.Equal("5080", admin.Str("containerPort"));
        Assert.Contains(c.Items("ports"), p => p.Str("name") == "grpc" && p.Str("containerPort") == "5081");
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Silos_advertise_their_pod_ip_and_know_their_identity(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var c = CoordinatorContainer(docs);
        var env = c.Items("env").ToList();
        Assert.Equal("metadata.name", env.Single(e => e.Str("name") == "POD_NAME").Str("valueFrom", "fieldRef", "fieldPath"));
        Assert.Equal("metadata.namespace", env.Single(e => e.Str("name") == "POD_NAMESPACE").Str("valueFrom", "fieldRef", "fieldPath"));
        Assert.Equal("status.podIP", env.Single(e => e.Str("name") == "POD_IP").Str("valueFrom", "fieldRef", "fieldPath"));
        int podIp = env.FindIndex(e => e.Str("name") == "POD_IP");
        int advertised = env.FindIndex(e => e.Str("name") == "Coordinator__AdvertisedAddress");
        Assert.True(advertised > podIp, "Coordinator__AdvertisedAddress must follow POD_IP for $(POD_IP) to expand");
        Assert.Equal("$(POD_IP)", env[advertised].Str("value"));

        var settings = AppSettings(docs).GetProperty("Coordinator");
        Assert.Equal("Cluster", settings.GetProperty("Mode").GetString());
        var ports = c.Items("ports").ToDictionary(p => p.Str("name")!, p => p.Str("containerPort"));
        Assert.Equal(settings.GetProperty("SiloPort").GetInt32().ToString(), ports["silo"]);
        Assert.Equal(settings.GetProperty("GatewayPort").GetInt32().ToString(), ports["gateway"]);
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Redis_reaches_the_coordinator_with_its_password_from_a_secret(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var c = CoordinatorContainer(docs);
        string redis = Env(c, "Coordinator__Redis") ?? throw new Xunit.Sdk.XunitException("Coordinator__Redis is not set");
        bool external = optionSet.Contains("external", StringComparison.Ordinal);
        Assert.StartsWith(external ? "redis.example.internal:6380," : $"{Helm.Release}-federated-redis:6379,", redis);
        Assert.Equal(external, docs.All(d => !(d.Kind() == "StatefulSet" && d.Name().EndsWith("-redis", StringComparison.Ordinal))));
        var password = c.Items("env").SingleOrDefault(e => e.Str("name") == "REDIS_PASSWORD");
        if (password is null)
            Assert.DoesNotContain("password=", redis);
        else
        {
            Assert.Contains(",password=$(REDIS_PASSWORD)", redis);
            Assert.NotNull(password.Get("valueFrom", "secretKeyRef", "name"));
            var env = c.Items("env").Select(e => e.Str("name")).ToList();
            Assert.True(env.IndexOf("REDIS_PASSWORD") < env.IndexOf("Coordinator__Redis"));
        }
        if (external) Assert.Contains(",ssl=true", redis);
        // The connection string is never in the ConfigMap (it can carry the password).
        Assert.False(AppSettings(docs).GetProperty("Coordinator").TryGetProperty("Redis", out _));
    }

    [Fact]
    public void In_chart_redis_is_persistent_append_only_and_only_reachable_from_silos()
    {
        var docs = Helm.Template("");
        var redis = docs.Single(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-redis");
        string command = string.Join(' ', redis.Items("spec", "template", "spec", "containers").Single().Items("args").Select(a => ((YamlScalarNode)a).Value));
        Assert.Contains("--appendonly yes", command);
        // Bounded, and full means refused writes, never evicted state.
        Assert.Contains("--maxmemory 1536mb --maxmemory-policy noeviction", command);
        Assert.Contains("requirepass", command);
        Assert.DoesNotContain("--requirepass", command);   // not on the command line
        Assert.Equal("data", redis.Items("spec", "volumeClaimTemplates").Single().Str("metadata", "name"));

        var policy = docs.Single(d => d.Kind() == "NetworkPolicy" && d.Name() == $"{Helm.Release}-federated-redis");
        var rule = policy.Items("spec", "ingress").Single();
        Assert.Equal("coordinator", rule.Items("from").Single().Str("podSelector", "matchLabels", "app.kubernetes.io/component"));
        Assert.Equal("6379", rule.Items("ports").Single().Str("port"));
    }

    [Fact]
    public void Redis_maxmemory_is_configurable_and_an_evicting_policy_for_state_is_refused()
    {
        var docs = Helm.Template("", "--set", "redis.internal.maxmemory=4gb", "--set", "redis.internal.maxmemoryPolicy=volatile-ttl");
        var redis = docs.Single(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-redis");
        string command = string.Join(' ', redis.Items("spec", "template", "spec", "containers").Single().Items("args").Select(a => ((YamlScalarNode)a).Value));
        Assert.Contains("--maxmemory 4gb --maxmemory-policy volatile-ttl", command);
        // allkeys-* would evict membership, grain state and stored updates.
        var (code, _, stderr) = Helm.Run("template", Helm.Release, Helm.Chart, "--set", "redis.internal.maxmemoryPolicy=allkeys-lru");
        Assert.NotEqual(0, code);
        Assert.Contains("maxmemoryPolicy", stderr);
    }

    [Fact]
    public void Staging_limits_reach_the_coordinator_and_a_staging_smaller_than_one_update_is_refused()
    {
        var staging = AppSettings(Helm.Template("", "--set", "coordinator.staging.maxUploads=7")).GetProperty("Coordinator").GetProperty("Staging");
        Assert.Equal(7, staging.GetProperty("MaxUploads").GetInt32());
        Assert.Equal("00:30:00", staging.GetProperty("IdleTimeout").GetString());
        var (code, _, stderr) = Helm.Run("template", Helm.Release, Helm.Chart, "--set", "coordinator.staging.maxBytes=1000");
        Assert.NotEqual(0, code);
        Assert.Contains("coordinator.staging.maxBytes must be at least coordinator.maxUpdateBytes", stderr);
    }

    [Fact]
    public void Credential_lifetime_and_rotation_grace_reach_the_coordinator_and_a_malformed_one_is_refused()
    {
        var agents = AppSettings(Helm.Template("", "--set", "coordinator.agents.credentialLifetime=7.00:00:00")).GetProperty("Coordinator").GetProperty("Agents");
        Assert.Equal("7.00:00:00", agents.GetProperty("CredentialLifetime").GetString());
        Assert.Equal("00:10:00", agents.GetProperty("RotationGrace").GetString());
        var (code, _, stderr) = Helm.Run("template", Helm.Release, Helm.Chart, "--set", "coordinator.agents.credentialLifetime=30d");
        Assert.NotEqual(0, code);
        Assert.Contains("credentialLifetime", stderr);
    }

    [Fact]
    public void Silo_ports_are_open_only_between_silos()
    {
        var docs = Helm.Template("");
        var policy = docs.Single(d => d.Kind() == "NetworkPolicy" && d.Name() == $"{Helm.Release}-federated-coordinator");
        foreach (var rule in policy.Items("spec", "ingress"))
        {
            var ports = rule.Items("ports").Select(p => p.Str("port")).ToList();
            if (ports.Contains("11111") || ports.Contains("30000"))
            {
                Assert.Equal(["11111", "30000"], ports);
                Assert.Equal("coordinator", rule.Items("from").Single().Str("podSelector", "matchLabels", "app.kubernetes.io/component"));
            }
        }
        Assert.Contains(policy.Items("spec", "ingress"), r => r.Items("ports").Any(p => p.Str("port") == "11111"));
    }

    /// <summary>Known secret values, given as values: they may appear only base64-encoded in Secrets.</summary>
    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Secrets_never_reach_config_maps_or_plain_env(string optionSet)
    {
        const string token = "enrollment-token-NEVER-IN-CONFIGMAP", agentToken = "agent-token-NEVER-IN-CONFIGMAP", password = "redisPasswordNeverInConfigMap";
        const string key = "-----BEGIN PRIVATE KEY-----\nTESTKEYNEVERINCONFIGMAP\n-----END PRIVATE KEY-----\n";
        const string cert = "-----BEGIN CERTIFICATE-----\nTESTCERT\n-----END CERTIFICATE-----\n";
        var sets = new List<string>
        {
            "--set", $"enrollment.tokens[0].federation=demo", "--set", $"enrollment.tokens[0].value={token}",
            "--set", $"redis.auth.password={password}", "--set", $"agents.enrollmentToken.value={agentToken}",
            "--set-string", $"tls.key={key}", "--set-string", $"tls.certificate={cert}",
        };
        if (!optionSet.Contains("existing-secret", StringComparison.Ordinal) && !optionSet.Contains("minimal", StringComparison.Ordinal))
            sets.AddRange(["--set", "tls.source=values"]);
        var docs = Helm.Template(optionSet, [.. sets]);
        string[] secrets = [token, agentToken, password, "TESTKEYNEVERINCONFIGMAP"];

        foreach (var doc in docs.Where(d => d.Kind() != "Secret"))
        {
            string text = Serialize(doc);
            foreach (string s in secrets)
                Assert.False(text.Contains(s, StringComparison.Ordinal), $"{doc.Kind()}/{doc.Name()} contains a secret value ({s})");
        }
        // Where they did go: Secrets, base64-encoded.
        string secretData = string.Join('\n', docs.Where(d => d.Kind() == "Secret").SelectMany(d => d.Entries("data")).Select(kv => Encoding.UTF8.GetString(Convert.FromBase64String(((YamlScalarNode)kv.Value).Value!))));
        if (!optionSet.Contains("existing-secret", StringComparison.Ordinal))
            Assert.Contains(token, secretData);
        if (optionSet.Contains("gpu-agents", StringComparison.Ordinal))
            Assert.Contains(agentToken, secretData);
        if (docs.Any(d => d.Kind() == "Secret" && d.Name().EndsWith("-tls", StringComparison.Ordinal)) && !optionSet.Contains("minimal", StringComparison.Ordinal))
            Assert.Contains("TESTKEYNEVERINCONFIGMAP", secretData);
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Enrollment_tokens_reach_coordinator_and_agents_as_mounted_secret_files_never_as_arguments_or_variables(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var c = CoordinatorContainer(docs);
        var pod = Coordinator(docs).Get("spec", "template", "spec");
        Assert.DoesNotContain(c.Items("args").Select(a => ((YamlScalarNode)a).Value!), a => a.Contains("EnrollmentToken", StringComparison.Ordinal));
        Assert.DoesNotContain(c.Items("env"), e => e.Str("name")!.Contains("ENROLLMENT", StringComparison.OrdinalIgnoreCase) || e.Str("name")!.Contains("EnrollmentToken", StringComparison.Ordinal));
        var tokens = pod.Items("volumes").SingleOrDefault(v => v.Str("name") == "enrollment-tokens");
        if (tokens is not null)
        {
            // One file per token, named as the setting it is (key-per-file): Coordinator__EnrollmentTokens__<federation>__<n>.
            var paths = tokens.Items("projected", "sources").SelectMany(s => s.Items("secret", "items")).Select(i => i.Str("path")!).ToList();
            Assert.NotEmpty(paths);
            Assert.All(paths, p => Assert.Matches(@"^Coordinator__EnrollmentTokens__[^_/]+__\d+$", p));
            Assert.Equal(paths.Count, paths.Distinct().Count());
            string mount = c.Items("volumeMounts").Single(m => m.Str("name") == "enrollment-tokens").Str("mountPath")!;
            Assert.Equal(mount, Env(c, "Coordinator__SecretsDirectory"));
        }
        else
            Assert.Null(Env(c, "Coordinator__SecretsDirectory"));

        foreach (var agents in docs.Where(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-agent"))
        {
            var agentPod = agents.Get("spec", "template", "spec");
            var agent = agentPod.Items("containers").Single();
            Assert.Null(Env(agent, "Agent__EnrollmentToken"));
            Assert.DoesNotContain(agent.Items("env"), e => e.Get("valueFrom", "secretKeyRef") is not null);
            string file = Env(agent, "Agent__EnrollmentTokenFile")!;
            var volume = agentPod.Items("volumes").Single(v => v.Str("name") == "enrollment");
            string mount = agent.Items("volumeMounts").Single(m => m.Str("name") == "enrollment").Str("mountPath")!;
            Assert.Equal(file, $"{mount}/{volume.Items("secret", "items").Single().Str("path")}");
            // The coordinator reads the same Secret's key as a token for the agents' federation.
            string secret = volume.Str("secret", "secretName")!;
            Assert.Contains(tokens!.Items("projected", "sources"), s => s.Str("secret", "name") == secret
                && s.Items("secret", "items").Single().Str("path")!.StartsWith($"Coordinator__EnrollmentTokens__{Env(agent, "Agent__FederationId")}__", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Tls_certificate_is_mounted_from_a_secret_and_named_in_the_config(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var endpoints = AppSettings(docs).GetProperty("Kestrel").GetProperty("Endpoints");
        var pod = Coordinator(docs).Get("spec", "template", "spec");
        if (!Tls(docs))
        {
            Assert.True(AppSettings(docs).GetProperty("Coordinator").GetProperty("AllowPlaintextOnNetwork").GetBoolean());
            Assert.DoesNotContain(pod.Items("volumes"), v => v.Str("name") == "tls");
            return;
        }
        Assert.False(AppSettings(docs).GetProperty("Coordinator").GetProperty("AllowPlaintextOnNetwork").GetBoolean());
        foreach (string name in new[] { "http", "grpc" })
        {
            Assert.StartsWith("https://", endpoints.GetProperty(name).GetProperty("Url").GetString());
            Assert.Equal("/etc/federated/tls/tls.key", endpoints.GetProperty(name).GetProperty("Certificate").GetProperty("KeyPath").GetString());
        }
        var volume = pod.Items("volumes").Single(v => v.Str("name") == "tls");
        string secret = volume.Str("secret", "secretName")!;
        if (optionSet.Contains("existing-secret", StringComparison.Ordinal))
            Assert.Equal("coordinator-tls", secret);
        else
            Assert.Contains(docs, d => d.Kind() == "Secret" && d.Name() == secret && d.Str("type") == "kubernetes.io/tls");
    }

    [Fact]
    public void Gpu_agents_get_gpus_tolerations_and_their_own_token_secret()
    {
        var docs = Helm.Template("gpu-agents-values.yaml");
        var agents = docs.Single(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-agent");
        var pod = agents.Get("spec", "template", "spec");
        var c = pod.Items("containers").Single();
        Assert.Equal("1", c.Str("resources", "limits", "nvidia.com/gpu"));
        Assert.Contains(pod.Items("tolerations"), t => t.Str("key") == "nvidia.com/gpu");
        Assert.Equal("true", pod.Str("nodeSelector", "nvidia.com/gpu.present"));
        Assert.Equal($"https://{Helm.Release}-federated-grpc.{Helm.Namespace}.svc:5081", Env(c, "Agent__Coordinator"));
        Assert.Equal("demo", Env(c, "Agent__FederationId"));
        Assert.Equal("cuda", Env(c, "Agent__Device"));
        Assert.Equal("auto", Env(c, "Agent__Precision"));
        Assert.Equal("8", Env(c, "Agent__TorchThreads"));
        Assert.Equal("int8", Env(c, "Agent__UploadCompression"));
        Assert.Equal("00:05:00", Env(c, "Agent__CheckpointInterval"));
        string secret = pod.Items("volumes").Single(v => v.Str("name") == "enrollment").Str("secret", "secretName")!;
        Assert.Contains(docs, d => d.Kind() == "Secret" && d.Name() == secret);
    }

    [Fact]
    public void Ingress_routes_grpc_to_the_tls_backend()
    {
        var docs = Helm.Template("loadbalancer-ingress-values.yaml");
        var ingress = docs.Single(d => d.Kind() == "Ingress");
        Assert.Equal("GRPCS", ingress.Str("metadata", "annotations", "nginx.ingress.kubernetes.io/backend-protocol"));
        Assert.Equal("federation.example.org", ingress.Items("spec", "tls").Single().Items("hosts").Cast<YamlScalarNode>().Single().Value);
        Assert.Equal($"{Helm.Release}-federated-grpc", ingress.Items("spec", "rules").Single().Items("http", "paths").Single().Str("backend", "service", "name"));
        var service = docs.Single(d => d.Kind() == "Service" && d.Name() == $"{Helm.Release}-federated-grpc");
        Assert.Equal("LoadBalancer", service.Str("spec", "type"));
    }

    [Fact]
    public void Service_monitor_scrapes_metrics_over_https()
    {
        var docs = Helm.Template("servicemonitor-values.yaml");
        var monitor = docs.Single(d => d.Kind() == "ServiceMonitor");
        var endpoint = monitor.Items("spec", "endpoints").Single();
        Assert.Equal("/metrics", endpoint.Str("path"));
        Assert.Equal("https", endpoint.Str("scheme"));
        Assert.Equal("http-admin", endpoint.Str("port"));
        // It selects the admin Service only.
        var selector = monitor.Entries("spec", "selector", "matchLabels").ToDictionary(kv => kv.Key, kv => ((YamlScalarNode)kv.Value).Value);
        var services = docs.Where(d => d.Kind() == "Service" && selector.All(s => d.Str("metadata", "labels", s.Key) == s.Value)).ToList();
        Assert.Equal($"{Helm.Release}-federated-admin", Assert.Single(services).Name());
    }

    [Fact]
    public void Service_monitor_verifies_the_admin_certificate_against_the_chart_CA_and_refuses_to_skip_verification()
    {
        var docs = Helm.Template("servicemonitor-values.yaml");
        var tls = docs.Single(d => d.Kind() == "ServiceMonitor").Items("spec", "endpoints").Single().Get("tlsConfig");
        Assert.Null(tls.Str("insecureSkipVerify"));
        Assert.Equal($"{Helm.Release}-federated-tls", tls.Str("ca", "secret", "name"));
        Assert.Equal("ca.crt", tls.Str("ca", "secret", "key"));
        string serverName = tls.Str("serverName")!;
        Assert.Equal($"{Helm.Release}-federated-admin.{Helm.Namespace}.svc", serverName);
        // The name Prometheus checks is in the chart's certificate.
        using var certificate = SecretCertificate(docs, $"{Helm.Release}-federated-tls", "tls.crt");
        Assert.True(certificate.MatchesHostname(serverName), $"{serverName} not in the admin certificate");

        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, .. Helm.ValuesArgs("servicemonitor-values.yaml"), "--set", "metrics.serviceMonitor.tlsConfig.insecureSkipVerify=true"]);
        Assert.NotEqual(0, code);
        Assert.Contains("insecureSkipVerify", stderr);
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Admin_port_admits_only_the_configured_selectors_never_the_whole_namespace_or_the_agents(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        var policy = docs.SingleOrDefault(d => d.Kind() == "NetworkPolicy" && d.Name() == $"{Helm.Release}-federated-coordinator");
        if (policy is null) return; // networkPolicy.enabled=false
        var rule = policy.Items("spec", "ingress").Single(r => r.Items("ports").Any(p => p.Str("port") == "5080"));
        var from = rule.Items("from").ToList();
        Assert.NotEmpty(from);
        var agentLabels = new Dictionary<string, string?>
        {
            ["app.kubernetes.io/name"] = "federated", ["app.kubernetes.io/instance"] = Helm.Release, ["app.kubernetes.io/component"] = "agent",
        };
        foreach (var agents in docs.Where(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-agent"))
            agentLabels = agents.Entries("spec", "template", "metadata", "labels").ToDictionary(kv => kv.Key, kv => ((YamlScalarNode)kv.Value).Value);
        foreach (var peer in from)
        {
            if (peer.Get("namespaceSelector") is not null) continue; // another namespace, by name
            var labels = peer.Entries("podSelector", "matchLabels").ToList();
            Assert.True(labels.Count > 0 || peer.Get("podSelector", "matchExpressions") is not null, "a bare podSelector admits every pod of the namespace");
            Assert.False(labels.All(l => agentLabels.TryGetValue(l.Key, out var v) && v == ((YamlScalarNode)l.Value).Value), "the agents' pods match the admin selector");
        }

        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, "--set-json", "networkPolicy.adminFrom=[{\"podSelector\":{}}]"]);
        Assert.NotEqual(0, code);
        Assert.Contains("every pod of the namespace", stderr);
    }

    [Fact]
    public void The_generated_internal_CA_signs_the_silo_and_agent_certificates_the_pods_mount_and_the_config_names()
    {
        var docs = Helm.Template("mtls-values.yaml");
        string secret = $"{Helm.Release}-federated-mtls";
        using var ca = SecretCertificate(docs, secret, "ca.crt");
        foreach (string name in new[] { "silo", "agent" })
        {
            using var certificate = SecretCertificate(docs, secret, $"{name}.crt");
            using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
            chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
            Assert.True(chain.Build(certificate), $"{name}.crt does not chain to ca.crt: {string.Join(", ", chain.ChainStatus.Select(s => s.Status))}");
            Assert.Contains("PRIVATE KEY", SecretText(docs, secret, $"{name}.key"));
        }

        var settings = AppSettings(docs).GetProperty("Coordinator");
        Assert.Equal("Required", settings.GetProperty("Agents").GetProperty("ClientCertificates").GetString());
        var mounted = MountedFiles(Coordinator(docs).Get("spec", "template", "spec"), CoordinatorContainer(docs), secret);
        Assert.Contains(settings.GetProperty("Agents").GetProperty("ClientCaPath").GetString(), mounted);
        foreach (string key in new[] { "CertificatePath", "KeyPath", "CaPath" })
            Assert.Contains(settings.GetProperty("Cluster").GetProperty("Tls").GetProperty(key).GetString(), mounted);

        var agents = docs.Single(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-agent").Get("spec", "template", "spec");
        var agent = agents.Items("containers").Single();
        var agentFiles = MountedFiles(agents, agent, secret);
        Assert.Contains(Env(agent, "Agent__ClientCertificate"), agentFiles);
        Assert.Contains(Env(agent, "Agent__ClientKey"), agentFiles);

        // Client certificates are part of the TLS handshake: not without TLS.
        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, "--set", "mtls.agentClientCertificates=Required", "--set", "tls.enabled=false"]);
        Assert.NotEqual(0, code);
        Assert.Contains("mtls.agentClientCertificates needs tls.enabled", stderr);
    }

    [Fact]
    public void Mutual_TLS_is_off_by_default()
    {
        var docs = Helm.Template("");
        var settings = AppSettings(docs).GetProperty("Coordinator");
        Assert.False(settings.GetProperty("Agents").TryGetProperty("ClientCertificates", out _));
        Assert.False(settings.TryGetProperty("Cluster", out _));
        Assert.DoesNotContain(docs, d => d.Kind() == "Secret" && d.Name() == $"{Helm.Release}-federated-mtls");
    }

    /// <summary>Full paths of the files a container mounts from <paramref name="secret"/>.</summary>
    static List<string> MountedFiles(YamlNode? pod, YamlNode container, string secret)
    {
        var files = new List<string>();
        foreach (var volume in pod.Items("volumes").Where(v => v.Str("secret", "secretName") == secret))
        {
            string mount = container.Items("volumeMounts").Single(m => m.Str("name") == volume.Str("name")).Str("mountPath")!;
            files.AddRange(volume.Items("secret", "items").Select(i => $"{mount}/{i.Str("path")}"));
        }
        return files;
    }

    static string SecretText(List<YamlMappingNode> docs, string secret, string key) =>
        Encoding.UTF8.GetString(Convert.FromBase64String(docs.Single(d => d.Kind() == "Secret" && d.Name() == secret).Str("data", key)!));

    static System.Security.Cryptography.X509Certificates.X509Certificate2 SecretCertificate(List<YamlMappingNode> docs, string secret, string key) =>
        System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(SecretText(docs, secret, key));

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void Every_option_set_is_documented_in_the_helm_readme(string optionSet)
    {
        if (optionSet == "") return;
        Assert.Contains($"ci/{optionSet}", File.ReadAllText(Repository.PathOf("helm", "README.md")));
    }

    [Fact]
    public void Pod_disruption_budget_covers_the_silos()
    {
        var docs = Helm.Template("");
        var pdb = docs.Single(d => d.Kind() == "PodDisruptionBudget");
        Assert.Equal("coordinator", pdb.Str("spec", "selector", "matchLabels", "app.kubernetes.io/component"));
        Assert.Equal("1", pdb.Str("spec", "maxUnavailable"));
    }

    static string Serialize(YamlNode node)
    {
        var stream = new YamlStream(new YamlDocument(node));
        var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
