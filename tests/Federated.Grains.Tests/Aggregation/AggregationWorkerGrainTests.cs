using Federated.Contracts;
using Federated.Core.Aggregation;
using Federated.Core.Robust;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Federated.Grains.Tests.Aggregation;

public sealed class AggregationWorkerGrainTests
{
    static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// A 200-client round aggregates for 40 s on two cores, past Orleans' default 30 s response timeout, after which the
    /// round would start the same aggregation again beside the first (which keeps running), and again. Here the silo's
    /// default timeout is 3 s (short, yet long enough for every other call on a busy CI machine) and reading a module
    /// of an update takes 4 s: the round must still close after one aggregation.
    /// </summary>
    [Fact]
    public async Task An_aggregation_longer_than_the_default_response_timeout_completes_once()
    {
        var (aggregation, reads) = await RoundWithSlowReadsAsync(clients: 4, TimeSpan.FromSeconds(4));

        Assert.True(aggregation > ResponseTimeout, $"the round closed {aggregation} after its last submission: not longer than the timeout it must outlast");
        Assert.Equal(4 * FederationDriver.Shapes.Count, reads.ModuleReads); // each module of each update read once: no second aggregation beside the first
    }

    /// <summary>
    /// All of a 200-client round's updates requested from Redis at once queued past the client's 5 s timeout and failed every
    /// attempt: each module shard reads a few updates at a time (eight), and a silo runs two shards.
    /// </summary>
    [Fact]
    public async Task A_silo_reads_at_most_eight_updates_per_shard_at_once()
    {
        var (_, reads) = await RoundWithSlowReadsAsync(clients: 20, TimeSpan.FromMilliseconds(100));

        Assert.Equal(20 * FederationDriver.Shapes.Count, reads.ModuleReads);
        Assert.InRange(reads.MostAtOnce, 2, 16);
    }

    /// <summary>
    /// One round of <paramref name="clients"/> on a silo whose default response timeout is <see cref="ResponseTimeout"/> and whose store takes
    /// <paramref name="delay"/> to read each client update. The round must close after one aggregation, with the exact global.
    /// </summary>
    /// <returns>How long the round took to close after the last submission, and the store.</returns>
    static async Task<(TimeSpan Aggregation, SlowReads Reads)> RoundWithSlowReadsAsync(int clients, TimeSpan delay)
    {
        string root = Path.Combine(Path.GetTempPath(), "fed-grains-" + Guid.NewGuid().ToString("N"));
        var reads = new SlowReads(new DirectoryContentStore(Path.Combine(root, "updates")), delay);
        var coordinator = await CoordinatorCluster.EmbeddedAsync(root, configure: silo =>
        {
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout);
            silo.Services.AddSingleton<IContentStore>(reads);
        });
        var updates = new List<ClientUpdate>();
        try
        {
            var driver = new FederationDriver(coordinator);
            string fed = await driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: clients, quorum: clients), clients);
            await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
            var round = driver.Round(fed, 1);
            foreach (var client in (await round.GetAsync()).Selected)
            {
                var assignment = (await round.GetAssignmentAsync(client))!;
                var (adapter, submission) = await driver.UploadAsync(assignment, client);
                updates.Add(new ClientUpdate(client, adapter, submission.ExampleCount, assignment.Rank));
                Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(client, submission)).Status);
            }

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var closed = await driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished, TimeSpan.FromSeconds(50));
            var aggregation = clock.Elapsed;

            Assert.Equal(RoundStatus.Closed, closed.Status);
            using var expected = new Aggregator(new FloraStacking()).Aggregate(updates.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList());
            using var global = await driver.ReadGlobalAsync(closed.Global!);
            FederationScenarios.AssertSameFactors(expected.Global, global);
            return (aggregation, reads);
        }
        finally
        {
            foreach (var u in updates) u.Adapter.Dispose();
            await coordinator.DisposeAsync();
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The silo's store, with every read of a client update's module bytes (a range past its header) slowed down and counted.</summary>
    sealed class SlowReads(IContentStore inner, TimeSpan delay) : DelegatingStore(inner)
    {
        int _reads, _inFlight, _mostAtOnce;
        readonly HashSet<StoredUpdate> _written = [];

        /// <summary>Module reads of payloads the test did not see written through this store (the clients' updates).</summary>
        public int ModuleReads => Volatile.Read(ref _reads);

        /// <summary>The most module reads that were in progress at one time.</summary>
        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public override async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
        {
            var stored = await Inner.PutAsync(content, cancellationToken);
            lock (_written) _written.Add(stored);
            return stored;
        }

        public override async Task<byte[]> ReadRangeAsync(StoredUpdate reference, long offset, int count, CancellationToken cancellationToken = default)
        {
            bool update;
            lock (_written) update = !_written.Contains(reference);
            if (!update || offset == 0) return await Inner.ReadRangeAsync(reference, offset, count, cancellationToken);
            Interlocked.Increment(ref _reads);
            int now = Interlocked.Increment(ref _inFlight);
            for (int most = _mostAtOnce; now > most; most = _mostAtOnce)
                Interlocked.CompareExchange(ref _mostAtOnce, now, most);
            try
            {
                await Task.Delay(delay, cancellationToken);
                return await Inner.ReadRangeAsync(reference, offset, count, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
