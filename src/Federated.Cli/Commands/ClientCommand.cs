using System.CommandLine;
using Federated.Cli.Remote;

namespace Federated.Cli.Commands;

/// <summary><c>fed client show ID</c>: a participant's registration, assigned rank and reputation.</summary>
static class ClientCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var id = new Argument<string>("id") { Description = "Client id" };
        var show = new Command("show", "Show a client: federation, capabilities, assigned rank, last seen and reputation") { id };
        show.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var c = await client.GetAsync($"api/clients/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
            {
                RemoteOptions.PrintJson(o, c);
                return FedCommandLine.ExitOk;
            }
            var caps = c.Field("capabilities") ?? default;
            o.WriteLine($"client      : {c.Text("clientId")}");
            o.WriteLine($"federation  : {c.Text("federationId")}");
            o.WriteLine($"device      : {caps.Text("device")}, GPU memory {caps.Field("gpuMemoryBytes")?.GetInt64() / (double)(1L << 30):0.#} GiB, agent {caps.Text("agentVersion")}");
            o.WriteLine($"rank        : {c.Text("assignedRank")}, alpha {c.Text("alpha")}");
            o.WriteLine($"reputation  : {c.Text("reputation")} ({c.Text("roundsIncluded")} rounds included, {c.Text("roundsExcluded")} excluded)");
            o.WriteLine($"registered  : {c.Text("registeredAt")}, last seen {c.Text("lastSeen")}");
            return FedCommandLine.ExitOk;
        });
        var command = new Command("client", "Inspect participants on a coordinator") { show };
        remote.AddTo(command);
        return command;
    }
}
