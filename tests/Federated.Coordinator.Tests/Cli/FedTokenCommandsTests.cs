using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Federated.Cli;
using Federated.Contracts;
using Federated.Coordinator.Tests.Agents;
using Federated.Coordinator.Tests.Api;
using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Coordinator.Tests.Cli;

/// <summary><c>fed token create|list|revoke</c> and <c>fed client revoke</c> against a running coordinator, checked by real Register and agent calls.</summary>
[Collection(CoordinatorCollection.Name)]
public sealed partial class FedTokenCommandsTests(CoordinatorHost coordinator) : IDisposable
{
    readonly Participants _p = new(coordinator, IPAddress.Parse("127.0.0.23"));

    public void Dispose() => _p.Dispose();

    (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = FedCommandLine.Run([.. args, "--coordinator", coordinator.Address.ToString(), "--api-key", TestOperators.AdminKey], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [GeneratedRegex(@"^token\s+: (fet_\S+)$", RegexOptions.Multiline)] private static partial Regex TokenLine();
    [GeneratedRegex(@"^id\s+: (t-[0-9a-f]{16})$", RegexOptions.Multiline)] private static partial Regex IdLine();

    [Fact]
    public async Task Token_create_list_and_revoke_round_trip_and_the_printed_token_enrolls_agents_until_revoked()
    {
        string fed = await _p.CreateFederationAsync();
        var created = Fed("token", "create", fed, "--uses", "10", "--expires", "24h");
        Assert.True(created.Exit == 0, created.Err);
        string token = TokenLine().Match(created.Out).Groups[1].Value, id = IdLine().Match(created.Out).Groups[1].Value;
        Assert.NotEmpty(token);
        Assert.Contains("only time the token is shown", created.Out);

        await _p.RegisterAsync(fed, token);

        var list = Fed("token", "list", fed);
        Assert.True(list.Exit == 0, list.Err);
        Assert.Matches(@"^ID\s+STATUS\s+USES\s+OF\s+EXPIRES\s+CREATED\s+BY$", list.Out.Split('\n')[0]);
        Assert.Matches($@"^{id}\s+Active\s+1\s+10\s", list.Out.Split('\n')[1]);
        Assert.DoesNotContain(token, list.Out);
        var json = JsonDocument.Parse(Fed("token", "list", fed, "--json").Out).RootElement;
        var expires = json[0].GetProperty("expiresAt").GetDateTime() - json[0].GetProperty("createdAt").GetDateTime();
        Assert.Equal(TimeSpan.FromHours(24), expires);

        var revoked = Fed("token", "revoke", fed, id);
        Assert.True(revoked.Exit == 0, revoked.Err);
        Assert.Equal($"enrollment token {id} of federation {fed} revoked (1 of 10 uses taken)", revoked.Out.Trim());
        await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().RegisterAsync(Participants.Request(fed, token)).ResponseAsync);
        Assert.Matches($@"^{id}\s+Revoked\s", Fed("token", "list", fed).Out.Split('\n')[1]);
    }

    [Fact]
    public async Task Token_create_defaults_to_one_use_and_bad_input_is_one_line()
    {
        string fed = await _p.CreateFederationAsync();
        var created = Fed("token", "create", fed, "--json");
        Assert.True(created.Exit == 0, created.Err);
        Assert.Equal(1, JsonDocument.Parse(created.Out).RootElement.GetProperty("details").GetProperty("maxUses").GetInt32());

        var zero = Fed("token", "create", fed, "--uses", "0");
        Assert.Equal(FedCommandLine.ExitFailure, zero.Exit);
        Assert.Equal("fed: error: uses must be between 1 and 100,000, not 0", zero.Err.Trim());
        Assert.Contains("'soon' is not a duration", Fed("token", "create", fed, "--expires", "soon").Err);
        Assert.Contains("no enrollment token 't-0000000000000000'", Fed("token", "revoke", fed, "t-0000000000000000").Err);
        Assert.Contains("no federation 'nope'", Fed("token", "create", "nope").Err);
    }

    [Fact]
    public async Task Client_revoke_refuses_the_clients_calls_and_client_show_says_so()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, _) = await _p.CreateTokenAsync(fed, uses: 1);
        var (clientId, auth) = await _p.RegisterAsync(fed, token);

        var revoked = Fed("client", "revoke", clientId);
        Assert.True(revoked.Exit == 0, revoked.Err);
        Assert.StartsWith($"client {clientId} of federation {fed} revoked at ", revoked.Out);

        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().HeartbeatAsync(new HeartbeatRequest(), auth).ResponseAsync);
        Assert.StartsWith("credential revoked", refused.Status.Detail);
        Assert.Contains("revoked     : ", Fed("client", "show", clientId).Out);
        Assert.Contains("not registered", Fed("client", "revoke", "c-0000000000000000").Err);
    }

    [Fact]
    public async Task Client_show_prints_when_the_clients_credential_expires()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, _) = await _p.CreateTokenAsync(fed, uses: 1);
        var (clientId, _) = await _p.RegisterAsync(fed, token);

        var json = JsonDocument.Parse(Fed("client", "show", clientId, "--json").Out).RootElement;
        var expiresAt = json.GetProperty("credentialExpiresAt").GetDateTime();

        Assert.InRange(expiresAt, DateTime.UtcNow.AddDays(30).AddMinutes(-5), DateTime.UtcNow.AddDays(30));
        Assert.Contains($"expires {json.GetProperty("credentialExpiresAt").GetString()}", Fed("client", "show", clientId).Out);
    }
}
