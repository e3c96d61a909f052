using System.CommandLine;
using Federated.Cli.Remote;

namespace Federated.Cli.Commands;

/// <summary><c>fed client show|revoke ID</c>: a participant's registration, assigned rank, reputation and credential expiry; revoking its credential.</summary>
static class ClientCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var id = new Argument<string>("id") { Description = "Client id" };
        var show = new Command("show", "Show a client: federation, capabilities, assigned rank, last seen, reputation and when its credential expires") { id };
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
            if (c.Field("credentialExpiresAt") is not null)
                o.WriteLine($"credential  : issued {c.Text("credentialIssuedAt")}, expires {c.Text("credentialExpiresAt")} (the agent rotates it before)");
            if (c.Field("revokedAt") is not null)
                o.WriteLine($"revoked     : {c.Text("revokedAt")} by {c.Text("revokedBy")}");
            return FedCommandLine.ExitOk;
        });
        var revoke = new Command("revoke", "Revoke a client's credential: its calls and uploads are refused from now on, and it is never selected again") { id };
        revoke.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var c = await client.PostAsync($"api/clients/{Uri.EscapeDataString(parse.GetValue(id)!)}/revoke", null, ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
                RemoteOptions.PrintJson(o, c);
            else
                o.WriteLine($"client {c.Text("clientId")} of federation {c.Text("federationId")} revoked at {c.Text("revokedAt")}");
            return FedCommandLine.ExitOk;
        });
        var command = new Command("client", "Inspect and revoke participants on a coordinator") { show, revoke };
        remote.AddTo(command);
        return command;
    }
}
