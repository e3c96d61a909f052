using Federated.Contracts;
using Federated.Core.Aggregation;
using Federated.Core.Robust;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Federated.Grains.Tests.Aggregation;

public sealed class AggregationWorkerGrainTests
{
    /// <summary>
    /// The ingest benchmark's 200-client round never closed: its aggregation outlasted Orleans' default 30 s response
    /// timeout, the round retried it beside the first (which kept running) and again, rereading every payload each time.
    /// Here the silo's default timeout is 1 s and reading each update takes 0.6 s, so the aggregation takes several
    /// seconds: the round must still close after one aggregation, with the exact global.
    /// </summary>
    [Fact]
    public async Task An_aggregation_longer_than_the_default_response_timeout_completes_once()
    {
        string root = Path.Combine(Path.GetTempPath(), "fed-grains-" + Guid.NewGuid().ToString("N"));
        var reads = new SlowReads(new DirectoryContentStore(Path.Combine(root, "updates")), TimeSpan.FromMilliseconds(600));
        var coordinator = await CoordinatorCluster.EmbeddedAsync(root, configure: silo =>
        {
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(1));
            silo.Services.AddSingleton<IContentStore>(reads);
        });
        try
        {
            var driver = new FederationDriver(coordinator);
            string fed = await driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 4, quorum: 4), clients: 4);
            await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
            var round = driver.Round(fed, 1);
            var updates = new List<ClientUpdate>();
            foreach (var client in (await round.GetAsync()).Selected)
            {
                var assignment = (await round.GetAssignmentAsync(client))!;
                var (adapter, submission) = await driver.UploadAsync(assignment, client);
                updates.Add(new ClientUpdate(client, adapter, submission.ExampleCount, assignment.Rank));
                Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(client, submission)).Status);
            }

            var closed = await driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished, TimeSpan.FromSeconds(50));

            Assert.Equal(RoundStatus.Closed, closed.Status);
            Assert.True(closed.AggregationTime > TimeSpan.FromSeconds(1), $"the aggregation took {closed.AggregationTime}: not longer than the timeout it must outlast");
            Assert.Equal(updates.Count, reads.UpdateReads); // each update read once: no second aggregation beside the first
            using var expected = new Aggregator(new FloraStacking()).Aggregate(updates.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList());
            using var global = await driver.ReadGlobalAsync(closed.Global!);
            FederationScenarios.AssertSameFactors(expected.Global, global);
            foreach (var u in updates) u.Adapter.Dispose();
        }
        finally
        {
            await coordinator.DisposeAsync();
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The silo's store, with every whole-payload read of a client update slowed down and counted.</summary>
    sealed class SlowReads(IContentStore inner, TimeSpan delay) : IContentStore
    {
        int _reads;
        readonly HashSet<StoredUpdate> _written = [];

        /// <summary>Whole reads of payloads the test did not see written through this store (the clients' updates).</summary>
        public int UpdateReads => Volatile.Read(ref _reads);

        public async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
        {
            var stored = await inner.PutAsync(content, cancellationToken);
            lock (_written) _written.Add(stored);
            return stored;
        }

        public async Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default)
        {
            bool update;
            lock (_written) update = !_written.Contains(reference);
            if (update)
            {
                Interlocked.Increment(ref _reads);
                await Task.Delay(delay, cancellationToken);
            }
            return await inner.ReadAsync(reference, cancellationToken);
        }

        public Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default) => inner.OpenReadAsync(reference, offset, cancellationToken);
        public Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => inner.ContainsAsync(reference, cancellationToken);
        public Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => inner.DeleteAsync(reference, cancellationToken);
    }
}
