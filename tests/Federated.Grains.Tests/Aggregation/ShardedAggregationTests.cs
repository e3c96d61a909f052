using System.Collections.Concurrent;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Federation;
using Federated.Core.Robust;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Federated.Grains.Tests.Aggregation;

/// <summary>A round's aggregation spread over three silos' module shards, sharing one Redis.</summary>
public sealed class ShardedAggregationTests : IAsyncLifetime
{
    readonly RedisServer _redis = new();
    readonly ModuleReads _reads = new();
    CoordinatorCluster _coordinator = null!;

    public async Task InitializeAsync()
    {
        await _redis.InitializeAsync();
        _coordinator = await CoordinatorCluster.RedisAsync(_redis, silos: 3, configure: silo =>
        {
            silo.Services.AddSingleton<IContentStore>(sp =>
                new RecordingStore(new RedisContentStore(_redis.Connection), sp.GetRequiredService<ILocalSiloDetails>().Name, _reads));
            // A killed silo is declared dead within seconds, not Orleans' production half minute.
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
            });
        });
    }

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        await _redis.DisposeAsync();
    }

    public static TheoryData<string?> Rules()
    {
        var data = new TheoryData<string?> { (string?)null };
        foreach (var rule in RobustRules.FederationNames) data.Add(rule);
        return data;
    }

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Sharded_aggregation_over_three_silos_equals_single_process_aggregation(string? rule)
    {
        var driver = new FederationDriver(_coordinator);
        var config = FederationDriver.Config(rounds: 1, clientsPerRound: 8, quorum: 8) is var c
            ? c with { Aggregation = c.Aggregation with { Rule = rule, ByzantineCount = rule is null ? 0 : 1 } } : null!;
        string fed = await driver.CreateAsync(config, 8);
        var updates = await SubmitAllAsync(driver, fed, 1);
        try
        {
            var closed = await driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished, TimeSpan.FromSeconds(60));
            Assert.True(closed.Status == RoundStatus.Closed, $"round {closed.Status}: {closed.FailureReason}");
            AssertEqualsInProcess(config, updates, closed);
        }
        finally
        {
            foreach (var u in updates) u.Adapter.Dispose();
        }
    }

    /// <summary>
    /// Adding silos adds aggregation capacity: a round's shards are placed over the silos, not on the round's own. (Placement
    /// is random: over three rounds of four shards all land on one silo with probability 3 x 3^-12.)
    /// </summary>
    [Fact]
    public async Task A_rounds_shards_run_on_several_silos()
    {
        var driver = new FederationDriver(_coordinator);
        var config = FederationDriver.Config(rounds: 3, clientsPerRound: 4, quorum: 4);
        string fed = await driver.CreateAsync(config, 4);
        for (int round = 1; round <= config.Rounds; round++)
        {
            var updates = await SubmitAllAsync(driver, fed, round);
            foreach (var u in updates) u.Adapter.Dispose();
            Assert.Equal(RoundStatus.Closed, (await driver.WaitForRoundAsync(fed, round, FederationDriver.IsFinished)).Status);
        }
        Assert.True(_reads.SilosReadingModules.Count >= 2, $"module reads on {string.Join(", ", _reads.SilosReadingModules)} only");
    }

    /// <summary>
    /// A silo that runs a shard is killed while it reads: the call fails, is made again on a live silo, and the round closes
    /// with the same global as in one process. (Which silo runs a shard is Orleans' choice: rounds go on until one of the
    /// silos that may be killed, neither the primary nor the one running the round, has read module bytes.)
    /// </summary>
    [Fact]
    public async Task A_silo_killed_during_a_sharded_aggregation_does_not_lose_the_round()
    {
        var driver = new FederationDriver(_coordinator);
        var config = FederationDriver.Config(rounds: 4, clientsPerRound: 6, quorum: 6) is var c
            ? c with { Aggregation = c.Aggregation with { Rule = "geometric-median" } } : null!;
        string fed = await driver.CreateAsync(config, 6);
        var primary = _coordinator.Cluster.Silos[0].Name; // the first silo started keeps the in-process membership
        for (int round = 1; round <= config.Rounds; round++)
        {
            var victim = _reads.Arm(exclude: primary);
            var updates = await SubmitAllAsync(driver, fed, round);
            try
            {
                var closing = driver.WaitForRoundAsync(fed, round, FederationDriver.IsFinished, TimeSpan.FromSeconds(90));
                if (await Task.WhenAny(victim, closing) == victim)
                {
                    var silo = _coordinator.Cluster.Silos.Single(s => s.Name == victim.Result);
                    await _coordinator.Cluster.KillSiloAsync(silo);
                    var closed = await closing;
                    Assert.True(closed.Status == RoundStatus.Closed, $"round {closed.Status}: {closed.FailureReason}");
                    AssertEqualsInProcess(config, updates, closed);
                    return;
                }
                _reads.Disarm();
                Assert.Equal(RoundStatus.Closed, (await closing).Status);
            }
            finally
            {
                foreach (var u in updates) u.Adapter.Dispose();
            }
        }
        Assert.Fail("in no round did a shard run on a silo that may be killed");
    }

    static async Task<List<ClientUpdate>> SubmitAllAsync(FederationDriver driver, string fed, int round)
    {
        if (round == 1) await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var grain = driver.Round(fed, round);
        await driver.WaitForRoundAsync(fed, round, v => v.Status == RoundStatus.Open);
        var updates = new List<ClientUpdate>();
        foreach (var client in (await grain.GetAsync()).Selected)
        {
            var assignment = (await grain.GetAssignmentAsync(client))!;
            var (adapter, submission) = await driver.UploadAsync(assignment, client);
            updates.Add(new ClientUpdate(client, adapter, submission.ExampleCount, assignment.Rank));
            Assert.Equal(SubmissionStatus.Accepted, (await grain.SubmitAsync(client, submission)).Status);
        }
        return updates;
    }

    /// <summary>The stored global equals Federated.Core's aggregation of the same updates in one process (1e-6 relative: the Gram is summed per shard).</summary>
    void AssertEqualsInProcess(FederationConfig config, List<ClientUpdate> updates, RoundView closed)
    {
        var s = config.Aggregation;
        using var expected = new AggregatorOptions(s.Strategy, s.Rule, s.PreAggregator, s.ByzantineCount, s.Tau, s.OutputRank, s.NormCap)
            .Build(combiner: FederatedStrategies.Get(s.Strategy).Combiner(), expectedModules: FederationDriver.Shapes)
            .Aggregate(updates.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList());
        using var global = new FederationDriver(_coordinator).ReadGlobalAsync(closed.Global!).GetAwaiter().GetResult();
        Assert.Equal(expected.Global.Modules.Select(m => (m.Name, m.Rank)), global.Modules.Select(m => (m.Name, m.Rank)));
        foreach (var (a, b) in expected.Global.Modules.Zip(global.Modules))
            Assert.True(a.A.allclose(b.A, rtol: 1e-6, atol: 1e-7) && a.B.allclose(b.B, rtol: 1e-6, atol: 1e-7), $"module {a.Name} differs");
    }

    /// <summary>Which silos read module bytes (ranges past the header); armed, the first such read on an eligible silo names it and then stalls its reads.</summary>
    sealed class ModuleReads
    {
        readonly ConcurrentDictionary<string, byte> _silos = new();
        TaskCompletionSource<string>? _armed;
        string? _exclude, _orchestrator, _victim;

        public ICollection<string> SilosReadingModules => _silos.Keys;

        public Task<string> Arm(string exclude)
        {
            (_exclude, _orchestrator, _victim) = (exclude, null, null);
            _armed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            return _armed.Task;
        }

        public void Disarm() => _armed = null;

        public async Task OnReadAsync(string silo, long offset)
        {
            if (offset == 0)
            {
                // The round's worker reads every header before any shard runs: the first header read is its silo's.
                if (_armed is not null) Interlocked.CompareExchange(ref _orchestrator, silo, null);
                return;
            }
            _silos.TryAdd(silo, 0);
            if (_armed is { } armed && silo != _exclude && _orchestrator is { } o && silo != o)
            {
                if (Interlocked.CompareExchange(ref _victim, silo, null) is null) armed.TrySetResult(silo);
                if (_victim == silo) await Task.Delay(TimeSpan.FromSeconds(10)); // held until the silo is declared dead (about 3 s)
            }
        }
    }

    sealed class RecordingStore(IContentStore inner, string silo, ModuleReads reads) : DelegatingStore(inner)
    {
        public override async Task<byte[]> ReadRangeAsync(StoredUpdate reference, long offset, int count, CancellationToken cancellationToken = default)
        {
            await reads.OnReadAsync(silo, offset);
            return await Inner.ReadRangeAsync(reference, offset, count, cancellationToken);
        }
    }
}
