using Federated.Contracts;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Grains.Tests;

/// <summary>A silo dies mid-round; the round's persisted state (Redis) brings every accepted update back.</summary>
public sealed class CrashSafetyTests : IAsyncLifetime
{
    readonly RedisServer _redis = new();
    CoordinatorCluster _coordinator = null!;

    public async Task InitializeAsync()
    {
        await _redis.InitializeAsync();
        _coordinator = await CoordinatorCluster.RedisAsync(_redis, silos: 2);
    }

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Killing_the_silo_that_hosts_a_round_loses_no_accepted_update()
    {
        var driver = new FederationDriver(_coordinator);
        string fed = await driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 4, quorum: 4), clients: 4);
        await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var round = driver.Round(fed, 1);
        var selected = (await round.GetAsync()).Selected;
        var updates = new List<ClientUpdate>();
        var submissions = new Dictionary<string, Submission>();
        foreach (var client in selected)
        {
            var assignment = (await round.GetAssignmentAsync(client))!;
            var (adapter, submission) = await driver.UploadAsync(assignment, client);
            updates.Add(new ClientUpdate(client, adapter, submission.ExampleCount, assignment.Rank));
            submissions[client] = submission;
        }
        foreach (var client in selected.Take(2))
            Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(client, submissions[client])).Status);

        Assert.True(_coordinator.Cluster.TryGetGrainContext(round.GetGrainId(), out var context), "the round should be active");
        var host = _coordinator.Cluster.Silos.Single(s => s.SiloAddress.Equals(context!.Address.SiloAddress));
        await _coordinator.Cluster.KillSiloAsync(host);
        await _coordinator.Cluster.WaitForLivenessToStabilizeAsync();

        foreach (var client in selected.Skip(2))
            Assert.Equal(SubmissionStatus.Accepted, (await SubmitWithRetryAsync(round, client, submissions[client])).Status);
        var closed = await driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);

        Assert.Equal(RoundStatus.Closed, closed.Status);
        Assert.Equal(selected.Order(StringComparer.Ordinal), closed.Outcomes.Where(o => o.Accepted).Select(o => o.ClientId));
        using var expected = new Aggregator(new FloraStacking()).Aggregate(updates.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList());
        using var global = await driver.ReadGlobalAsync(closed.Global!);
        FederationScenarios.AssertSameFactors(expected.Global, global);
        await driver.WaitForFederationAsync(fed, v => v.Status == FederationStatus.Completed);
        foreach (var u in updates) u.Adapter.Dispose();
    }

    /// <summary>Calls routed to the dead silo fail until membership has moved on; agents retry the same way.</summary>
    static async Task<SubmissionReceipt> SubmitWithRetryAsync(IRoundGrain round, string client, Submission submission)
    {
        for (int attempt = 1; ; attempt++)
        {
            try { return await round.SubmitAsync(client, submission); }
            catch (Exception) when (attempt < 20) { await Task.Delay(500); }
        }
    }
}
