using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Storage;

namespace Federated.Grains.Tests;

/// <summary>Plays operator and agents against a coordinator cluster: create, register, upload, submit, wait.</summary>
public sealed class FederationDriver(CoordinatorCluster coordinator)
{
    public static readonly IReadOnlyList<ModuleShape> Shapes = ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]);

    /// <summary>The base model <see cref="Shapes"/> belong to: hidden 32, 2 layers, 4 heads, as many key/value heads.</summary>
    public static readonly ModelArchitecture Architecture = new(32, 2, 4, 4, 128);
    const long GiB = 1L << 30;

    public IGrainFactory Grains => coordinator.Grains;
    public IContentStore Store => coordinator.Store;

    /// <summary>FLoRA stacking; ranks 4 (CPU), 8 (8 GiB GPU) and 16 (16 GiB GPU); a long deadline unless given.</summary>
    public static FederationConfig Config(int rounds = 3, int clientsPerRound = 4, int quorum = 2, TimeSpan? deadline = null) =>
        FederationConfig.Default("tiny-llama", Architecture) with
        {
            RankPolicy = new RankPolicy(4, [new RankTier(8 * GiB, 8), new RankTier(16 * GiB, 16)]),
            Rounds = rounds,
            ClientsPerRound = clientsPerRound,
            Quorum = quorum,
            RoundDeadline = deadline ?? TimeSpan.FromMinutes(5),
        };

    public static string NewId() => "fed-" + Guid.NewGuid().ToString("N")[..12];

    public async Task<string> CreateAsync(FederationConfig config, int clients)
    {
        string id = NewId();
        await Grains.GetGrain<IFederationGrain>(id).CreateAsync(config);
        for (int i = 0; i < clients; i++)
            await Grains.GetGrain<IClientGrain>(ClientId(id, i)).RegisterAsync(id, new ClientCapabilities(i % 3 == 0 ? "cpu" : "cuda", (i % 3) * 8 * GiB));
        return id;
    }

    public static string ClientId(string federation, int i) => $"{federation}-client-{i:D2}";

    public IRoundGrain Round(string federation, int round) => Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation, round));

    /// <summary>A random update at the client's assigned rank, seeded by round and client, uploaded to the store.</summary>
    public async Task<(LoraAdapter Adapter, Submission Submission)> UploadAsync(Assignment assignment, string clientId, long examples = 10)
    {
        var adapter = RandomAdapters.Create(Shapes, assignment.Rank, assignment.Alpha, seed: assignment.Round * 1_000_003L + clientId.Aggregate(17L, (h, c) => (h * 31 + c) & 0xffffff), baseModel: assignment.BaseModel);
        var reference = await Store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(adapter)));
        return (adapter, new Submission(reference, examples, assignment.Rank));
    }

    public async Task<RoundView> WaitForRoundAsync(string federation, int round, Func<RoundView, bool> until, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            RoundView? view = null;
            // The federation opens round t + 1 just after round t reports back: until then the round is NotFound.
            try { view = await Round(federation, round).GetAsync(); }
            catch (FederationException e) when (e.Error == FederationError.NotFound && DateTime.UtcNow < deadline) { }
            // The round answers between its turns: one that waits on a long aggregation answers when it ends.
            catch (TimeoutException) when (DateTime.UtcNow < deadline) { }
            // A test that kills a silo may kill the client's gateway with it: the client moves to another one.
            catch (Exception e) when (e is SiloUnavailableException or OrleansMessageRejectionException
                                      && DateTime.UtcNow < deadline) { }
            if (view is not null && until(view)) return view;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"round {federation}/{round} still {view?.Status} ({view?.Submitted} submitted)");
            await Task.Delay(50);
        }
    }

    /// <summary>The round reports to its federation after it closes, so the federation's view lags the round's.</summary>
    public async Task<FederationView> WaitForFederationAsync(string federation, Func<FederationView, bool> until, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            FederationView? view = null;
            try { view = await Grains.GetGrain<IFederationGrain>(federation).GetAsync(); }
            catch (Exception e) when (e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException
                                      && DateTime.UtcNow < deadline) { }
            if (view is not null && until(view)) return view;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"federation {federation} still {view?.Status} at round {view?.CurrentRound}");
            await Task.Delay(50);
        }
    }

    public static bool IsFinished(RoundView v) => v.Status is RoundStatus.Closed or RoundStatus.Failed;

    public async Task<LoraAdapter> ReadGlobalAsync(StoredUpdate global) =>
        AdapterPayload.Read(await Store.ReadAsync(global));
}
