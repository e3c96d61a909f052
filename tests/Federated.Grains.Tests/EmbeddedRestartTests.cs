using Federated.Contracts;

namespace Federated.Grains.Tests;

/// <summary>The embedded default keeps grain state in files: a coordinator restarted mid-round finishes the round.</summary>
public sealed class EmbeddedRestartTests : IDisposable
{
    readonly string _directory = Path.Combine(Path.GetTempPath(), "fed-restart-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_round_open_when_the_coordinator_stopped_closes_at_its_deadline_after_a_restart_with_its_accepted_updates()
    {
        string fed;
        string[] submitted;
        await using (var first = await CoordinatorCluster.EmbeddedAsync(_directory, inMemoryState: false))
        {
            var driver = new FederationDriver(first);
            fed = await driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 4, quorum: 2, deadline: TimeSpan.FromSeconds(5)), clients: 4);
            await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
            var round = driver.Round(fed, 1);
            submitted = (await round.GetAsync()).Selected.Take(2).ToArray();
            foreach (var client in submitted)
            {
                var (adapter, submission) = await driver.UploadAsync((await round.GetAssignmentAsync(client))!, client);
                adapter.Dispose();
                Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(client, submission)).Status);
            }
        }

        await using var second = await CoordinatorCluster.EmbeddedAsync(_directory, inMemoryState: false);
        // Only the federation is polled: nothing calls the round, so only startup recovery can wake its deadline.
        var federation = second.Grains.GetGrain<IFederationGrain>(fed);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        FederationView view;
        while ((view = await federation.GetAsync()).Status == FederationStatus.Running && DateTime.UtcNow < deadline)
            await Task.Delay(100);

        var round1 = await second.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync();
        Assert.True(view.Status == FederationStatus.Completed, $"federation {view.Status} at round {view.CurrentRound}; round 1 {round1.Status}, {round1.Submitted} submitted, deadline {round1.Deadline:O}, now {DateTime.UtcNow:O}, {round1.FailureReason}");
        Assert.Equal(submitted.Order(StringComparer.Ordinal), round1.Outcomes.Where(o => o.Accepted).Select(o => o.ClientId));
        Assert.True(await second.Store.ContainsAsync(view.GlobalAdapter!));
    }
}
