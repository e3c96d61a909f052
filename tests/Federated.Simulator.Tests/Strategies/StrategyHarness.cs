using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Export;
using Federated.Core.Formats;
using Federated.Grains;
using Federated.Simulator.Runtime;
using Federated.Training.Data;
using Federated.Training.Models;
using Federated.Training.Rounds;
using Federated.Training.Tokenization;

namespace Federated.Simulator.Tests.Strategies;

/// <summary>
/// Runs a federation through the real coordinator grains (in-process silo, directory update store) with clients that run
/// the shared <see cref="ClientRound"/> on a tiny Llama model, round by round, so tests can look at every state in between.
/// </summary>
sealed class StrategyHarness : IAsyncDisposable
{
    public const long GiB = 1L << 30;
    public static readonly LlamaConfig Tiny = LlamaConfig.Preset("tiny");
    public static readonly ModelArchitecture Architecture = new(Tiny.HiddenSize, Tiny.NumHiddenLayers, Tiny.NumAttentionHeads, Tiny.KeyValueHeads, Tiny.IntermediateSize);

    readonly string _dir;
    readonly SimulatedCoordinator _coordinator;
    readonly LlamaForCausalLM _model;
    public readonly ClientRound Client;
    public readonly IReadOnlyList<TrainingExample>[] Data;

    StrategyHarness(string dir, SimulatedCoordinator coordinator, LlamaForCausalLM model, IReadOnlyList<TrainingExample>[] data)
    {
        _dir = dir;
        _coordinator = coordinator;
        _model = model;
        Client = new ClientRound(model, ByteLevelTokenizer.Instance.PadId ?? 0);
        Data = data;
    }

    /// <param name="identicalData">Every client gets the same examples (else each its own slice of the text).</param>
    public static async Task<StrategyHarness> StartAsync(int clients, bool identicalData = false)
    {
        string dir = Directory.CreateTempSubdirectory("fed-strategy-").FullName;
        var coordinator = await SimulatedCoordinator.StartAsync(Path.Combine(dir, "coordinator"));
        var model = LlamaForCausalLM.Create(Tiny, seed: 3);
        var chunks = PlainTextChunker.ReadFile("/usr/share/common-licenses/GPL-3", ByteLevelTokenizer.Instance, 64).Take(clients * 16).ToList();
        var data = Enumerable.Range(0, clients).Select(k => (IReadOnlyList<TrainingExample>)(identicalData ? chunks.Take(16) : chunks.Skip(16 * k).Take(16)).ToList()).ToArray();
        return new StrategyHarness(dir, coordinator, model, data);
    }

    public IGrainFactory Grains => _coordinator.Grains;

    /// <summary>A federation of <paramref name="ranks"/>.Length clients, client k at ranks[k], every client in every round.</summary>
    public async Task<string> CreateAsync(string strategy, int[] ranks, int rounds = 3, int localSteps = 4, long seed = 11, HistoryCompaction? compaction = null,
        string? rule = null, double? globalEnergy = null)
    {
        string id = "fed-" + strategy;
        var distinct = ranks.Distinct().Order().ToArray();
        var policy = distinct.Length == 1 ? RankPolicy.Fixed(distinct[0]) : new RankPolicy(distinct[0], distinct.Skip(1).Select(r => new RankTier(r * GiB, r)).ToArray());
        var config = FederationConfig.Default("tiny-llama", Architecture) with
        {
            RankPolicy = policy, Aggregation = new AggregationSettings(strategy, rule, GlobalEnergy: globalEnergy), Training = new TrainingPlan(localSteps, 4, 5e-3),
            Rounds = rounds, ClientsPerRound = ranks.Length, Quorum = ranks.Length, RoundDeadline = TimeSpan.FromDays(1),
            ClientTimeout = TimeSpan.FromDays(1), Seed = seed, Compaction = compaction,
        };
        await Grains.GetGrain<IFederationGrain>(id).CreateAsync(config);
        for (int k = 0; k < ranks.Length; k++)
            await Grains.GetGrain<IClientGrain>(ClientId(k)).RegisterAsync(id, new ClientCapabilities("cuda", ranks[k] * GiB));
        await Grains.GetGrain<IFederationGrain>(id).StartAsync();
        return id;
    }

    public static string ClientId(int k) => $"client-{k}";

    public IRoundGrain Round(string federation, int round) => Grains.GetGrain<IRoundGrain>(GrainKeys.Round(federation, round));

    public async Task<LoraAdapter> ReadAsync(StoredUpdate adapter) =>
        AdapterPayload.Read(await _coordinator.Store.ReadAsync(adapter), adapter.ToString());

    public async Task<ExportReport?> ReadReportAsync(StoredUpdate payload)
    {
        using var stream = new MemoryStream(await _coordinator.Store.ReadAsync(payload));
        return ExportFiles.ReadPayloadReport(stream);
    }

    public async Task<StoredUpdate> PutAsync(LoraAdapter adapter) =>
        (await _coordinator.Store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(adapter))));

    /// <summary>What client k trains in this round (data order seeded by <paramref name="dataSeed"/>, or by the assignment).</summary>
    public async Task<LoraAdapter> TrainAsync(Assignment a, int k, long? dataSeed = null)
    {
        var history = new List<(string, Func<LoraAdapter>)>();
        foreach (var h in a.History ?? [])
        {
            var bytes = await _coordinator.Store.ReadAsync(h.Adapter);
            history.Add((h.Adapter.Sha256, () => AdapterPayload.Read(bytes)));
        }
        using var init = a.Init is { } i ? await ReadAsync(i) : null;
        Client.MergeHistory(history);
        var task = new ClientRoundTask(a.TargetModules, a.Rank, a.Alpha, a.Training.LoraDropout, a.Training.LocalSteps, a.Training.BatchSize,
            a.Training.LearningRate, dataSeed ?? a.Seed ^ k, a.BaseModel, a.FreezeA);
        return Client.Train(task, init, Data[k]).Update;
    }

    public async Task<SubmissionReceipt> SubmitAsync(string federation, int round, int k, LoraAdapter update, long examples = 16) =>
        await Round(federation, round).SubmitAsync(ClientId(k), new Submission(await PutAsync(update), examples, update.Modules.Max(m => m.Rank)));

    public async Task<RoundView> CloseAsync(string federation, int round)
    {
        await Round(federation, round).CloseAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var view = await Round(federation, round).GetAsync();
            if (view.Status is RoundStatus.Closed or RoundStatus.Failed) return view;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"round {round} is still {view.Status}");
            await Task.Delay(20);
        }
    }

    /// <summary>The federation once it has opened round <paramref name="round"/> (or stopped).</summary>
    public async Task<FederationView> FederationAtAsync(string federation, int round)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var view = await Grains.GetGrain<IFederationGrain>(federation).GetAsync();
            if (view.Status != FederationStatus.Running || view.CurrentRound >= round)
            {
                try
                {
                    if (view.Status == FederationStatus.Running) await Round(federation, round).GetAsync();
                    return view;
                }
                catch (FederationException e) when (e.Error == FederationError.NotFound) { }
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"round {round} never opened");
            await Task.Delay(20);
        }
    }

    /// <summary>The federation once it has stopped and exported its whole model (the last round reports after it closes).</summary>
    public async Task<FederationView> FinishedAsync(string federation)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var view = await Grains.GetGrain<IFederationGrain>(federation).GetAsync();
            if (view is { Status: not FederationStatus.Running, FinalModel: not null }) return view;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"federation {federation} is {view.Status}, final model {view.FinalModel}");
            await Task.Delay(20);
        }
    }

    /// <summary>Every client trains and submits; the round closes. Returns the round's view and what each client uploaded (caller disposes).</summary>
    public async Task<(RoundView Round, LoraAdapter[] Updates, Assignment[] Assignments)> RunRoundAsync(string federation, int round, int clients, long? dataSeed = null)
    {
        await FederationAtAsync(federation, round);
        var assignments = new Assignment[clients];
        var updates = new LoraAdapter[clients];
        for (int k = 0; k < clients; k++)
        {
            assignments[k] = (await Round(federation, round).GetAssignmentAsync(ClientId(k)))!;
            updates[k] = await TrainAsync(assignments[k], k, dataSeed);
            var receipt = await SubmitAsync(federation, round, k, updates[k]);
            Assert.True(receipt.IsAccepted, receipt.Reason);
        }
        return (await CloseAsync(federation, round), updates, assignments);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        _model.Dispose();
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
