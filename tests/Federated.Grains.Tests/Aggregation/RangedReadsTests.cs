using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Federated.Grains.Tests.Aggregation;

/// <summary>
/// What the coordinator reads back of its own payloads (the live adapter the next one starts from, the inits whose frozen A
/// the shards compare, the history a compaction exports) is read by module ranges, as the clients' updates are: never as
/// one array, so adapters past 2 GiB work (<see cref="PayloadModulesTests"/> reads one back by ranges). Here the silo's
/// store refuses every whole read.
/// </summary>
public sealed class RangedReadsTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "fed-grains-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Theory]
    [InlineData("fedit")] // each live adapter starts from the previous one
    [InlineData("ffa")]   // each update's A is compared with the init it was handed
    [InlineData("flora")] // the history is compacted (exported) every two rounds
    public async Task Three_rounds_close_on_a_store_that_refuses_whole_reads(string strategy)
    {
        var coordinator = await CoordinatorCluster.EmbeddedAsync(_root, configure: silo =>
            silo.Services.AddSingleton<IContentStore>(new RangesOnly(new DirectoryContentStore(Path.Combine(_root, "updates")))));
        await using var _ = coordinator;
        var driver = new FederationDriver(coordinator);
        var config = FederationDriver.Config(rounds: 3, clientsPerRound: 3, quorum: 3) with
        {
            RankPolicy = RankPolicy.Fixed(4),
            Aggregation = new AggregationSettings(strategy),
            Compaction = strategy == "flora" ? new HistoryCompaction(2, Rank: 4) : null,
        };
        string fed = await driver.CreateAsync(config, 3);
        await driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();

        for (int t = 1; t <= config.Rounds; t++)
        {
            var round = driver.Round(fed, t);
            await driver.WaitForRoundAsync(fed, t, v => v.Status == RoundStatus.Open);
            foreach (var client in (await round.GetAsync()).Selected)
            {
                var assignment = (await round.GetAssignmentAsync(client))!;
                var (adapter, submission) = await UploadAsync(driver, assignment, client);
                adapter.Dispose();
                Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(client, submission)).Status);
            }
            var closed = await driver.WaitForRoundAsync(fed, t, FederationDriver.IsFinished);
            Assert.True(closed.Status == RoundStatus.Closed, $"round {t} {closed.Status}: {closed.FailureReason}");
            Assert.All(closed.Outcomes, o => Assert.True(o.Accepted, o.Rejection));
        }
        var model = (await driver.Grains.GetGrain<IFederationGrain>(fed).GetAsync()).Model!;
        if (strategy == "flora") Assert.Equal(2, model.History.Length); // rounds 1-2 compacted into one delta, then round 3
        else Assert.NotNull(model.Live);
    }

    /// <summary>A random update; under a frozen A, with the A of the init the client was handed (read by the test, whole).</summary>
    static async Task<(LoraAdapter Adapter, Submission Submission)> UploadAsync(FederationDriver driver, Assignment assignment, string client)
    {
        if (!assignment.FreezeA) return await driver.UploadAsync(assignment, client);
        using var init = AdapterPayload.Read(await driver.Store.ReadAsync(assignment.Init!));
        using var random = RandomAdapters.Create(FederationDriver.Shapes, assignment.Rank, assignment.Alpha, seed: assignment.Round, baseModel: assignment.BaseModel);
        var adapter = new LoraAdapter(random.Modules.Select(m => new LoraModule(m.Name, init[m.Name].A.clone(), m.B.clone(), m.Alpha)), random.BaseModel);
        var reference = await driver.Store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(adapter)));
        return (adapter, new Submission(reference, 10, assignment.Rank));
    }

    sealed class RangesOnly(IContentStore inner) : DelegatingStore(inner)
    {
        public override Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException($"{reference} was read whole");
    }
}
