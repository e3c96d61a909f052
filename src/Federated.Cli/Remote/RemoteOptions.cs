using System.CommandLine;
using System.Text.Json;

namespace Federated.Cli.Remote;

/// <summary>Options of the commands that talk to a coordinator: where it is, the operator's API key, and whether to print JSON.</summary>
sealed class RemoteOptions
{
    public const string EnvironmentVariable = "FED_COORDINATOR";
    public const string ApiKeyEnvironmentVariable = "FED_API_KEY";
    public const string DefaultAddress = "http://127.0.0.1:5080";

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public Option<string> Coordinator { get; } = new("--coordinator")
    {
        Description = $"Coordinator URL (default: ${EnvironmentVariable} or {DefaultAddress})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } url ? url : DefaultAddress,
        Recursive = true,
        Validators =
        {
            r =>
            {
                string? url = r.GetValueOrDefault<string>();
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    r.AddError($"--coordinator '{url}' is not an http(s) URL such as {DefaultAddress}");
            },
        },
    };

    // No default value factory: help prints defaults, and this one is a secret.
    public Option<string?> ApiKey { get; } = new("--api-key")
    {
        Description = $"The operator's API key or JWT, sent as 'Authorization: Bearer' (default: ${ApiKeyEnvironmentVariable}; mint a key with 'fed apikey create')",
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json") { Description = "Print the coordinator's JSON instead of text", Recursive = true };

    /// <summary>Adds the options to a command group; its subcommands inherit them.</summary>
    public void AddTo(Command command)
    {
        AddConnectionTo(command);
        command.Options.Add(Json);
    }

    /// <summary>Where the coordinator is and the credential to show it.</summary>
    public void AddConnectionTo(Command command)
    {
        command.Options.Add(Coordinator);
        command.Options.Add(ApiKey);
    }

    // A trailing slash makes relative API paths resolve under any prefix the URL has.
    public CoordinatorClient Client(ParseResult parse) => new(new Uri(parse.GetValue(Coordinator)!.TrimEnd('/') + "/"),
        parse.GetValue(ApiKey) is { Length: > 0 } key ? key
        : Environment.GetEnvironmentVariable(ApiKeyEnvironmentVariable) is { Length: > 0 } env ? env.Trim() : null);

    public static void PrintJson(TextWriter output, JsonElement json) => output.WriteLine(JsonSerializer.Serialize(json, Indented));
}
