using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace Federated.Deploy.Tests;

/// <summary>The chart's operator credentials (values <c>operators</c>): hashes in a Secret, never open, never the keys in pods.</summary>
public sealed class OperatorChartTests
{
    static readonly string Hash = new('a', 64);

    static YamlNode Container(List<YamlMappingNode> docs) =>
        docs.Single(d => d.Kind() == "StatefulSet" && d.Name() == $"{Helm.Release}-federated-coordinator")
            .Items("spec", "template", "spec", "containers").Single(c => c.Str("name") == "coordinator");

    static Dictionary<string, string> SecretData(List<YamlMappingNode> docs, string name) =>
        docs.Single(d => d.Kind() == "Secret" && d.Name() == name).Entries("data")
            .ToDictionary(kv => kv.Key, kv => Encoding.UTF8.GetString(Convert.FromBase64String(((YamlScalarNode)kv.Value).Value!)));

    static string? EnvFromSecret(List<YamlMappingNode> docs) =>
        Container(docs).Items("envFrom").Select(e => e.Str("secretRef", "name")).SingleOrDefault();

    [Fact]
    public void Configured_api_keys_reach_the_coordinator_as_hash_and_roles_settings_from_a_secret()
    {
        var docs = Helm.Template("", "--set", $"operators.apiKeys.alice.sha256={Hash}", "--set", "operators.apiKeys.alice.roles={admin,download}",
            "--set", $"operators.apiKeys.ci-bot.sha256={Hash.ToUpperInvariant()}", "--set", "operators.apiKeys.ci-bot.roles={viewer}");
        Assert.Equal($"{Helm.Release}-federated-operators", EnvFromSecret(docs));
        var data = SecretData(docs, $"{Helm.Release}-federated-operators");
        Assert.Equal(Hash, data["Coordinator__Operators__ApiKeys__alice__Sha256"]);
        Assert.Equal("admin,download", data["Coordinator__Operators__ApiKeys__alice__Roles"]);
        Assert.Equal(Hash, data["Coordinator__Operators__ApiKeys__ci-bot__Sha256"]);
        Assert.Equal("viewer", data["Coordinator__Operators__ApiKeys__ci-bot__Roles"]);
        // Configured keys: nothing generated.
        Assert.DoesNotContain(docs, d => d.Kind() == "Secret" && d.Name() == $"{Helm.Release}-federated-operator-key");
    }

    [Theory]
    [MemberData(nameof(ChartTests.OptionSets), MemberType = typeof(ChartTests))]
    public void Without_credentials_the_chart_generates_an_admin_key_whose_hash_the_coordinator_gets_and_no_pod_mounts(string optionSet)
    {
        var docs = Helm.Template(optionSet);
        string key = SecretData(docs, $"{Helm.Release}-federated-operator-key")["api-key"];
        Assert.True(key.Length >= 43, key);
        var settings = SecretData(docs, $"{Helm.Release}-federated-operators");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))), settings["Coordinator__Operators__ApiKeys__admin__Sha256"]);
        Assert.Equal("admin", settings["Coordinator__Operators__ApiKeys__admin__Roles"]);
        Assert.Equal($"{Helm.Release}-federated-operators", EnvFromSecret(docs));
        foreach (var doc in docs.Where(d => d.Kind() != "Secret"))
            Assert.DoesNotContain($"{Helm.Release}-federated-operator-key", Serialize(doc));
    }

    [Fact]
    public void An_existing_secret_is_passed_as_is_and_the_chart_renders_no_operator_secrets()
    {
        var docs = Helm.Template("", "--set", "operators.existingSecret=my-operators");
        Assert.Equal("my-operators", EnvFromSecret(docs));
        Assert.DoesNotContain(docs, d => d.Kind() == "Secret" && d.Name().Contains("operator", StringComparison.Ordinal));
    }

    [Fact]
    public void A_jwt_authority_is_a_non_secret_setting_and_needs_an_audience()
    {
        var docs = Helm.Template("", "--set", "operators.jwt.authority=https://login.example.org/realms/fed", "--set", "operators.jwt.audience=federated",
            "--set", "operators.jwt.rolesClaim=fed_roles");
        var map = docs.Single(d => d.Kind() == "ConfigMap" && d.Name() == $"{Helm.Release}-federated-config");
        var jwt = JsonDocument.Parse(map.Str("data", "appsettings.Production.json")!).RootElement.GetProperty("Coordinator").GetProperty("Operators").GetProperty("Jwt");
        Assert.Equal("https://login.example.org/realms/fed", jwt.GetProperty("Authority").GetString());
        Assert.Equal("federated", jwt.GetProperty("Audience").GetString());
        Assert.Equal("fed_roles", jwt.GetProperty("RolesClaim").GetString());
        Assert.Null(EnvFromSecret(docs));

        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, "--set", "operators.jwt.authority=https://login.example.org"]);
        Assert.NotEqual(0, code);
        Assert.Contains("operators.jwt.authority needs operators.jwt.audience", stderr);
    }

    [Fact]
    public void The_schema_refuses_a_key_value_where_its_hash_belongs_and_unknown_roles()
    {
        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, "--set", "operators.apiKeys.alice.sha256=fed_the-key-itself", "--set", "operators.apiKeys.alice.roles={admin}"]);
        Assert.NotEqual(0, code);
        Assert.Contains("sha256", stderr);
        (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, "--set", $"operators.apiKeys.alice.sha256={Hash}", "--set", "operators.apiKeys.alice.roles={root}"]);
        Assert.NotEqual(0, code);
        Assert.Contains("roles", stderr);
    }

    static string Serialize(YamlNode node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(node)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
