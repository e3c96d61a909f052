using System.CommandLine;
using Federated.Cli.Commands;
using Federated.Cli.Remote;
using Federated.Core.Adapters;
using Federated.Core.Robust;

namespace Federated.Cli;

/// <summary>The `fed` command tree, and the rule that bad input ends in one readable line and a non-zero exit.</summary>
public static class FedCommandLine
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2;

    public static RootCommand Create()
    {
        var root = new RootCommand("fed: operate Federated, the federated LoRA fine-tuning platform.");
        root.Subcommands.Add(AggregateCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(AdaptersCommand.Create());
        root.Subcommands.Add(ModelCommand.Create());
        root.Subcommands.Add(FederationCommand.Create());
        root.Subcommands.Add(RoundCommand.Create());
        root.Subcommands.Add(ClientCommand.Create());
        root.Subcommands.Add(ApiKeyCommand.Create());
        root.Subcommands.Add(TokenCommand.Create());
        return root;
    }

    // "fed federation create", for nested commands too.
    static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command is RootCommand ? "fed" : r.Command.Name);
        return string.Join(' ', names);
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var parse = Create().Parse(args);
        if (parse.Errors.Count > 0)
        {
            string command = CommandPath(parse.CommandResult);
            // Some parser messages span lines (e.g. the list of accepted values): keep them to one.
            string message = string.Join(' ', parse.Errors[0].Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            error.WriteLine($"fed: {message} (see '{command} --help')");
            return ExitUsage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is CoordinatorException or AdapterException or RobustRuleException or ArgumentException or IOException or UnauthorizedAccessException or KeyNotFoundException)
        {
            error.WriteLine($"fed: error: {e.Message}");
            return ExitFailure;
        }
    }
}
