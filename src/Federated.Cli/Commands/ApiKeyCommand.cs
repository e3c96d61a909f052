using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Federated.Cli.Commands;

/// <summary>
/// <c>fed apikey create --name alice --role admin</c>: mints an operator API key (256 random bits), prints it once, and
/// prints what the coordinator needs: the key's SHA-256 and roles, as environment variables, appsettings JSON and Helm
/// values. The key itself is stored nowhere; the coordinator keeps only the hash.
/// </summary>
static class ApiKeyCommand
{
    static readonly string[] Roles = ["admin", "viewer", "download"];

    public static Command Create()
    {
        var name = new Option<string>("--name")
        {
            Description = "Who the key is for (the audit log's name): 1 to 64 letters, digits, '-' or '_'",
            Required = true,
            Validators = { r => { if (r.GetValueOrDefault<string>() is { } n && !IsValidName(n)) r.AddError($"--name '{n}' must be 1 to 64 letters, digits, '-' or '_'"); } },
        };
        var role = new Option<string[]>("--role")
        {
            Description = "admin (everything, including download), viewer (read) or download (adapters and models); repeat for several",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        role.AcceptOnlyFromAmong(Roles);
        var json = new Option<bool>("--json") { Description = "Print {name, key, sha256, roles} as JSON" };
        var create = new Command("create", "Mint an operator API key: shown once, with the coordinator settings that accept it") { name, role, json };
        create.SetAction(parse =>
        {
            string who = parse.GetValue(name)!;
            string[] roles = parse.GetValue(role)!.Distinct().ToArray();
            string key = "fed_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            string sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                o.WriteLine(JsonSerializer.Serialize(new { name = who, key, sha256, roles }));
                return FedCommandLine.ExitOk;
            }
            string list = string.Join(',', roles);
            o.WriteLine($"API key for '{who}' (roles: {list}). It is shown only now; the coordinator stores its hash, not the key:");
            o.WriteLine();
            o.WriteLine($"  {key}");
            o.WriteLine();
            o.WriteLine("Use it:  export FED_API_KEY=<the key>   (or fed --api-key <the key> ...)");
            o.WriteLine();
            o.WriteLine("Coordinator, as environment variables (or a Kubernetes Secret):");
            o.WriteLine($"  Coordinator__Operators__ApiKeys__{who}__Sha256={sha256}");
            o.WriteLine($"  Coordinator__Operators__ApiKeys__{who}__Roles={list}");
            o.WriteLine("or in appsettings.json:");
            o.WriteLine($"  \"Coordinator\": {{ \"Operators\": {{ \"ApiKeys\": {{ \"{who}\": {{ \"Sha256\": \"{sha256}\", \"Roles\": \"{list}\" }} }} }} }}");
            o.WriteLine("or in the Helm chart's values:");
            o.WriteLine($"  operators: {{ apiKeys: {{ {who}: {{ sha256: {sha256}, roles: [{string.Join(", ", roles)}] }} }} }}");
            return FedCommandLine.ExitOk;
        });
        return new Command("apikey", "Operator API keys for the coordinator's admin API") { create };
    }

    // The coordinator's rule for key names (Coordinator:Operators:ApiKeys:<name>).
    static bool IsValidName(string name) => name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
