using Federated.Contracts;

namespace Federated.Grains.Tests;

/// <summary>What the client grain tells an agent to do through a federation's life, and what it lets it download.</summary>
public sealed class NextStepTests(EmbeddedCoordinator fixture) : IClassFixture<EmbeddedCoordinator>
{
    readonly FederationDriver _driver = new(fixture.Coordinator);
    IClientGrain Client(string id) => _driver.Grains.GetGrain<IClientGrain>(id);
    IFederationGrain Federation(string id) => _driver.Grains.GetGrain<IFederationGrain>(id);

    [Fact]
    public async Task Wait_before_the_start_train_when_selected_wait_ten_seconds_when_not_and_done_with_the_final_references()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 2, quorum: 2), clients: 3);
        var created = Assert.IsType<WaitStep>(await Client(FederationDriver.ClientId(fed, 0)).NextStepAsync());
        Assert.Equal((TimeSpan.FromSeconds(2), $"federation '{fed}' has not started"), (created.RetryAfter, created.Reason));

        await Federation(fed).StartAsync();
        var round = await _driver.Round(fed, 1).GetAsync();
        foreach (var client in round.Selected)
        {
            var before = (await Client(client).GetAsync()).LastSeen;
            var train = Assert.IsType<TrainStep>(await Client(client).NextStepAsync());
            var assignment = (await _driver.Round(fed, 1).GetAssignmentAsync(client))!;
            Assert.Equal((fed, 1, assignment.Rank, assignment.Deadline, assignment.Init, false),
                (train.Assignment.FederationId, train.Assignment.Round, train.Assignment.Rank, train.Assignment.Deadline, train.Assignment.Init, train.Assignment.Submitted));
            Assert.True((await Client(client).GetAsync()).LastSeen >= before, "asking for work is a sign of life");
        }
        string outsider = Enumerable.Range(0, 3).Select(i => FederationDriver.ClientId(fed, i)).Except(round.Selected).Single();
        Assert.Equal(new WaitStep(TimeSpan.FromSeconds(10), "not selected for round 1"), await Client(outsider).NextStepAsync());

        var federation = await CompleteRoundAsync(fed, round.Selected);
        var done = Assert.IsType<DoneStep>(await Client(outsider).NextStepAsync());
        Assert.Equal(new DoneStep(FederationStatus.Completed, $"federation '{fed}' completed 1 rounds", federation.GlobalAdapter, federation.FinalModel), done);
        Assert.NotNull(done.FinalAdapter);
        Assert.NotNull(done.FinalModel);
    }

    [Fact]
    public async Task Downloads_are_the_own_federations_references_only()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 2, quorum: 2), clients: 2);
        string other = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 2, quorum: 2), clients: 2);
        await Federation(fed).StartAsync();
        await Federation(other).StartAsync();
        var federation = await CompleteRoundAsync(fed, (await _driver.Round(fed, 1).GetAsync()).Selected);
        var foreign = await CompleteRoundAsync(other, (await _driver.Round(other, 1).GetAsync()).Selected);
        var client = Client(FederationDriver.ClientId(fed, 0));

        StoredUpdate[] own = [federation.GlobalAdapter!, federation.FinalModel!, federation.History.Single().GlobalAdapter!, .. federation.Model!.Deltas()];
        foreach (var adapter in own)
            Assert.True((await client.MayDownloadAsync(adapter)).Allowed, $"{adapter} is the federation's");
        var refused = await client.MayDownloadAsync(foreign.GlobalAdapter!);
        Assert.False(refused.Allowed);
        Assert.Equal($"no adapter {foreign.GlobalAdapter} in federation '{fed}'", refused.Reason);
        Assert.False((await client.MayDownloadAsync(foreign.FinalModel!)).Allowed);
    }

    [Fact]
    public async Task An_unregistered_client_is_NotFound()
    {
        var nobody = Client("c-" + FederationDriver.NewId());
        Assert.Equal(FederationError.NotFound, (await Assert.ThrowsAsync<FederationException>(nobody.NextStepAsync)).Error);
        Assert.Equal(FederationError.NotFound, (await Assert.ThrowsAsync<FederationException>(() => nobody.MayDownloadAsync(new StoredUpdate(new string('a', 64), 1)))).Error);
    }

    /// <summary>Every selected client submits; returns the federation once it completed and exported its final model.</summary>
    async Task<FederationView> CompleteRoundAsync(string fed, string[] selected)
    {
        foreach (var client in selected)
        {
            var (adapter, submission) = await _driver.UploadAsync((await _driver.Round(fed, 1).GetAssignmentAsync(client))!, client);
            adapter.Dispose();
            Assert.True((await _driver.Round(fed, 1).SubmitAsync(client, submission)).IsAccepted);
        }
        await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);
        return await _driver.WaitForFederationAsync(fed, v => v is { Status: FederationStatus.Completed, FinalModel: not null });
    }
}
