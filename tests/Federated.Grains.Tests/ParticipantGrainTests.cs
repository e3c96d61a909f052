using Federated.Contracts;

namespace Federated.Grains.Tests;

/// <summary>Enrollment tokens and client revocation in the grains themselves: atomic uses, persistence of the count, and a revoked client's submission.</summary>
public sealed class ParticipantGrainTests(EmbeddedCoordinator fixture) : IClassFixture<EmbeddedCoordinator>
{
    readonly FederationDriver _driver = new(fixture.Coordinator);
    IGrainFactory Grains => _driver.Grains;

    static string Hash(string token) => Enrollment.EnrollmentTokensGrain.Hash(token);

    [Fact]
    public async Task Concurrent_enrollments_never_take_more_uses_than_the_token_has()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var issued = await Grains.GetGrain<IEnrollmentTokensGrain>(fed).CreateAsync(maxUses: 5, TimeSpan.FromHours(1), "alice");

        var checks = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Grains.GetGrain<IEnrollmentTokenGrain>(Hash(issued.Token)).ConsumeAsync(fed)));

        Assert.Equal(5, checks.Count(c => c.Outcome == EnrollmentOutcome.Accepted));
        Assert.Equal(35, checks.Count(c => c.Outcome == EnrollmentOutcome.UsedUp));
        var listed = Assert.Single(await Grains.GetGrain<IEnrollmentTokensGrain>(fed).ListAsync());
        Assert.Equal((5, 5, EnrollmentTokenStatus.UsedUp, "alice"), (listed.Uses, listed.MaxUses, listed.Status, listed.CreatedBy));
    }

    [Fact]
    public async Task The_secret_is_never_stored_only_its_hash_names_the_token()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var issued = await Grains.GetGrain<IEnrollmentTokensGrain>(fed).CreateAsync(1, TimeSpan.FromHours(1), null);

        Assert.Equal(issued.Details, await Grains.GetGrain<IEnrollmentTokenGrain>(Hash(issued.Token)).GetAsync());
        Assert.Null(await Grains.GetGrain<IEnrollmentTokenGrain>(issued.Token).GetAsync());
        Assert.DoesNotContain(issued.Token, System.Text.Json.JsonSerializer.Serialize(issued.Details));
        Assert.Equal(EnrollmentOutcome.Unknown, (await Grains.GetGrain<IEnrollmentTokenGrain>(Hash(issued.Token + "x")).ConsumeAsync(fed)).Outcome);
    }

    [Fact]
    public async Task A_revoked_client_leaves_the_roster_and_its_submission_is_refused_as_unauthenticated()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(clientsPerRound: 2, quorum: 2), clients: 2);
        await Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        string clientId = FederationDriver.ClientId(fed, 0);
        var assignment = await _driver.Round(fed, 1).GetAssignmentAsync(clientId);
        var (adapter, submission) = await _driver.UploadAsync(assignment!, clientId);
        adapter.Dispose();

        var revoked = await Grains.GetGrain<IClientGrain>(clientId).RevokeAsync("bob");

        Assert.Equal("bob", revoked.RevokedBy);
        var e = await Assert.ThrowsAsync<FederationException>(() => Grains.GetGrain<IClientGrain>(clientId).SubmitAsync(1, submission));
        Assert.Equal(FederationError.Unauthenticated, e.Error);
        Assert.Equal(0, (await _driver.Round(fed, 1).GetAsync()).Submitted);
        Assert.Null(await Grains.GetGrain<IRosterGrain>(GrainKeys.Roster(fed, GrainKeys.RosterShardOf(clientId))).GetAsync(clientId));
        Assert.Equal(CredentialStatus.Unknown, await Grains.GetGrain<IClientGrain>(clientId).VerifyAsync(new string('0', 64)));
    }
}
