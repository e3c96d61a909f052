using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Federated.Cli.Remote;

namespace Federated.Cli.Commands;

/// <summary>
/// <c>fed token create|list|revoke FEDERATION</c>: enrollment tokens agents register with. A token's secret is printed once,
/// at creation; the coordinator keeps only its hash.
/// </summary>
static class TokenCommand
{
    public static Command Create()
    {
        var remote = new RemoteOptions();
        var federation = new Argument<string>("federation") { Description = "Federation id" };
        var uses = new Option<int?>("--uses") { Description = "How many agents may enroll with it (default: 1, a single-use token for one participant)" };
        var expires = new Option<string?>("--expires") { Description = "How long it stays valid: 24h, 30m, 7d or 1.00:00:00 (default: 24h)" };
        var create = new Command("create", "Create an enrollment token for a federation; its secret is shown only now") { federation, uses, expires };
        create.SetAction(async (parse, ct) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(uses) is { } n) body["uses"] = n;
            if (parse.GetValue(expires) is { } e) body["expiresIn"] = e;
            using var client = remote.Client(parse);
            var issued = await client.PostAsync(TokensPath(parse), body, ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
            {
                RemoteOptions.PrintJson(o, issued);
                return FedCommandLine.ExitOk;
            }
            var t = issued.Field("details") ?? default;
            o.WriteLine($"token       : {issued.Text("token")}");
            o.WriteLine($"id          : {t.Text("id")}");
            o.WriteLine($"federation  : {t.Text("federationId")}");
            o.WriteLine($"uses        : {t.Text("maxUses")}");
            o.WriteLine($"expires     : {t.Text("expiresAt")}");
            o.WriteLine("This is the only time the token is shown: give it to the participant (fed-agent's enrollment token setting).");
            return FedCommandLine.ExitOk;
        });

        var list = new Command("list", "List a federation's enrollment tokens: id, uses, expiry and status (never the secret)") { federation };
        list.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var tokens = await client.GetAsync(TokensPath(parse), ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
            {
                RemoteOptions.PrintJson(o, tokens);
                return FedCommandLine.ExitOk;
            }
            var table = new TextTable("ID", "STATUS", "USES", "OF", "EXPIRES", "CREATED", "BY");
            foreach (var t in tokens.ValueKind == JsonValueKind.Array ? tokens.EnumerateArray() : Enumerable.Empty<JsonElement>())
                table.Add(t.Text("id"), t.Text("status"), t.Text("uses"), t.Text("maxUses"), t.Text("expiresAt"), t.Text("createdAt"), t.Text("createdBy"));
            table.Write(o);
            return FedCommandLine.ExitOk;
        });

        var tokenId = new Argument<string>("token-id") { Description = "The token's id, as 'fed token list' shows it" };
        var revoke = new Command("revoke", "Revoke an enrollment token: no agent enrolls with it any more (clients it enrolled stay; see 'fed client revoke')") { federation, tokenId };
        revoke.SetAction(async (parse, ct) =>
        {
            using var client = remote.Client(parse);
            var t = await client.DeleteAsync($"{TokensPath(parse)}/{Uri.EscapeDataString(parse.GetValue(tokenId)!)}", ct);
            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(remote.Json))
                RemoteOptions.PrintJson(o, t);
            else
                o.WriteLine($"enrollment token {t.Text("id")} of federation {t.Text("federationId")} revoked ({t.Text("uses")} of {t.Text("maxUses")} uses taken)");
            return FedCommandLine.ExitOk;
        });

        string TokensPath(ParseResult parse) => $"api/federations/{Uri.EscapeDataString(parse.GetValue(federation)!)}/tokens";

        var command = new Command("token", "Create, list and revoke the enrollment tokens agents register with") { create, list, revoke };
        remote.AddTo(command);
        return command;
    }
}
