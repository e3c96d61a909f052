using System.Net;
using System.Text.Json;
using Federated.Contracts;
using Federated.Coordinator.Tests.Api;
using Grpc.Core;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>Operator-issued enrollment tokens over the real admin API and real gRPC Register calls: uses, expiry, revocation, scope.</summary>
[Collection(CoordinatorCollection.Name)]
public sealed class EnrollmentTokenTests(CoordinatorHost coordinator) : IDisposable
{
    readonly Participants _p = new(coordinator, IPAddress.Parse("127.0.0.21"));

    public void Dispose() => _p.Dispose();

    [Fact]
    public async Task A_token_with_two_uses_enrolls_two_agents_and_the_third_register_is_unauthenticated()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, id) = await _p.CreateTokenAsync(fed, uses: 2);

        await _p.RegisterAsync(fed, token);
        await _p.RegisterAsync(fed, token);
        var third = await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().RegisterAsync(Participants.Request(fed, token)).ResponseAsync);

        Assert.Equal($"enrollment token {id} is used up (2 of 2 uses): ask the operator for a new one", third.Status.Detail);
        Assert.Equal(2, await _p.RosterCountAsync(fed));
    }

    [Fact]
    public async Task A_single_use_token_enrolls_exactly_one_of_several_agents_racing_for_it()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, _) = await _p.CreateTokenAsync(fed, uses: 1);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            try { await _p.Agents(fresh: true).RegisterAsync(Participants.Request(fed, token)); return StatusCode.OK; }
            catch (RpcException e) { return e.StatusCode; }
        }));

        Assert.Equal(1, attempts.Count(s => s == StatusCode.OK));
        Assert.All(attempts.Where(s => s != StatusCode.OK), s => Assert.Equal(StatusCode.Unauthenticated, s));
        var listed = JsonDocument.Parse(await coordinator.Http.GetStringAsync($"/api/federations/{fed}/tokens")).RootElement;
        Assert.Equal(1, Assert.Single(listed.EnumerateArray()).GetProperty("uses").GetInt32());
    }

    [Fact]
    public async Task An_expired_token_is_refused()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, id) = await _p.CreateTokenAsync(fed, uses: 5, expiresIn: "1s");
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().RegisterAsync(Participants.Request(fed, token)).ResponseAsync);
        Assert.StartsWith($"enrollment token {id} expired at ", refused.Status.Detail);
        Assert.Equal(0, await _p.RosterCountAsync(fed));
    }

    [Fact]
    public async Task A_revoked_token_is_refused_and_listed_as_revoked_without_its_secret()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, id) = await _p.CreateTokenAsync(fed, uses: 5);
        await _p.RegisterAsync(fed, token);

        var revoked = await coordinator.Http.DeleteAsync($"/api/federations/{fed}/tokens/{id}");
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().RegisterAsync(Participants.Request(fed, token)).ResponseAsync);
        Assert.Equal($"enrollment token {id} was revoked: ask the operator for a new one", refused.Status.Detail);

        string listed = await coordinator.Http.GetStringAsync($"/api/federations/{fed}/tokens");
        Assert.DoesNotContain(token, listed);
        Assert.DoesNotContain(token[4..], listed);
        var entry = Assert.Single(JsonDocument.Parse(listed).RootElement.EnumerateArray());
        Assert.Equal(id, entry.GetProperty("id").GetString());
        Assert.Equal("Revoked", entry.GetProperty("status").GetString());
        Assert.Equal(1, entry.GetProperty("uses").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await coordinator.Http.DeleteAsync($"/api/federations/{fed}/tokens/t-0000000000000000")).StatusCode);
    }

    [Fact]
    public async Task A_token_is_a_random_256_bit_secret_valid_only_for_its_own_federation()
    {
        string fed = await _p.CreateFederationAsync(), other = await _p.CreateFederationAsync();
        var (token, id) = await _p.CreateTokenAsync(fed, uses: 5);
        var (second, _) = await _p.CreateTokenAsync(fed, uses: 5);

        Assert.Matches("^fet_[A-Za-z0-9_-]{43}$", token); // 32 random bytes
        Assert.NotEqual(token, second);
        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().RegisterAsync(Participants.Request(other, token)).ResponseAsync);
        Assert.Equal($"enrollment token {id} is not for federation '{other}'", refused.Status.Detail);
        await _p.RegisterAsync(fed, token);
    }

    [Fact]
    public async Task Tokens_out_of_bounds_or_for_unknown_federations_are_refused_as_problem_details()
    {
        string fed = await _p.CreateFederationAsync();
        async Task<(HttpStatusCode, string)> Create(string federation, string body)
        {
            var r = await coordinator.Http.PostAsync($"/api/federations/{federation}/tokens", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            return (r.StatusCode, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()!);
        }
        Assert.Equal((HttpStatusCode.BadRequest, "uses must be between 1 and 100,000, not 0"), await Create(fed, """{"uses": 0}"""));
        Assert.Equal(HttpStatusCode.BadRequest, (await Create(fed, """{"uses": 1, "expiresIn": "400d"}""")).Item1);
        Assert.Equal(HttpStatusCode.NotFound, (await Create("no-such-federation", """{"uses": 1}""")).Item1);
    }
}
