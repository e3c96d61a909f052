using System.Collections.Concurrent;
using Federated.Contracts;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Federated.Grains.Tests.Aggregation;

/// <summary>
/// An init that is the live adapter itself (a client at the live adapter's rank) is handed out as the live adapter's stored
/// payload: the coordinator does not serialise, hash and write the same bytes twice (gigabytes for a large base, each round).
/// </summary>
public sealed class InitWritesTests
{
    [Fact]
    public async Task A_one_rank_federation_writes_its_live_adapter_once_per_round_and_hands_it_out_as_the_init()
    {
        using var root = new TempDirectory();
        var store = new CountingStore(new DirectoryContentStore(root.File("updates")));
        var coordinator = await CoordinatorCluster.EmbeddedAsync(root.Path, configure: silo => silo.Services.AddSingleton<IContentStore>(store));
        await using var _ = coordinator;
        var driver = new FederationDriver(coordinator);
        var config = FederationDriver.Config(rounds: 2, clientsPerRound: 2, quorum: 2) with
        {
            RankPolicy = RankPolicy.Fixed(4), Aggregation = new AggregationSettings("fedit"),
        };
        string fed = await driver.CreateAsync(config, 2);
        var started = await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();

        var model = started.Model!;
        Assert.Equal(model.Live, Assert.Single(model.Inits).Adapter);
        Assert.Equal(1, store.Puts(model.Live!));

        var round = driver.Round(fed, 1);
        foreach (var client in (await round.GetAsync()).Selected)
        {
            var (adapter, submission) = await driver.UploadAsync((await round.GetAssignmentAsync(client))!, client);
            adapter.Dispose();
            Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(client, submission)).Status);
        }
        var closed = await driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);
        Assert.Equal(RoundStatus.Closed, closed.Status);
        Assert.Equal(closed.Model!.Live, Assert.Single(closed.Model.Inits).Adapter);
        Assert.Equal(1, store.Puts(closed.Model.Live!));
    }

    /// <summary>The store, counting the payloads put under each reference.</summary>
    sealed class CountingStore(IContentStore inner) : DelegatingStore(inner)
    {
        readonly ConcurrentDictionary<StoredUpdate, int> _puts = new();

        public int Puts(StoredUpdate reference) => _puts.GetValueOrDefault(reference);

        public override async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
        {
            var reference = await Inner.PutAsync(content, cancellationToken);
            _puts.AddOrUpdate(reference, 1, (_, n) => n + 1);
            return reference;
        }
    }
}
