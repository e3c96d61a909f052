using System.Diagnostics;
using System.Text.Json;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Attacks;
using Federated.Core.Formats;
using Federated.Grains;
using Federated.Simulator.Experiments;
using Federated.Simulator.Reporting;
using Federated.Training.Data;
using Federated.Core.Federation;
using Federated.Grains.Federations;
using Federated.Training.Evaluation;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Core.Runtime;
using Federated.Training.Rounds;
using Federated.Training.Tokenization;
using TorchSharp;

namespace Federated.Simulator.Runtime;

/// <summary>
/// Runs one experiment run: the real coordinator in-process, virtual clients that run the agent's client round
/// (<see cref="ClientRound"/>: merge the history, continue the adapter the federation hands them or start fresh, train)
/// on their own data at their own rank, attackers, dropouts and stragglers, every upload through the coordinator's
/// admission check (<see cref="UpdateAdmission"/>), and the federation's whole model evaluated after every round.
/// Deterministic for a seed.
/// </summary>
public sealed class SimulationRunner(string cacheRoot, Func<RunSettings, ITextTokenizer, SimulationData> data, ISimulationProgress progress)
{
    const long GiB = 1L << 30;

    // The runs of an experiment differ mostly in method: those with the same data settings and seed share one build (a pure
    // function of them, about 0.5 s of parsing, partitioning and tokenizing on this project's machine).
    readonly Dictionary<string, SimulationData> _data = [];

    public async Task<IReadOnlyList<RoundMetrics>> RunAsync(ExperimentRun run, string outputDirectory, CancellationToken cancellation)
    {
        var s = run.Settings;
        Directory.CreateDirectory(outputDirectory);
        string baseDir = BaseModels.Ensure(s.Model, s.Seed, cacheRoot, progress.Log, cancellation);
        var tokenizer = TokenizerLoader.Load(baseDir);
        int padId = tokenizer.PadId ?? tokenizer.EosId ?? 0;
        string dataKey = JsonSerializer.Serialize(new { s.Data, s.Seed, s.Clients, s.Model, s.Evaluation.TaskItems });
        if (!_data.TryGetValue(dataKey, out var clientsData)) _data[dataKey] = clientsData = data(s, tokenizer);
        // Clients train side by side with one intra-op thread each, rather than fighting over all cores.
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount / s.Parallelism));

        using var replicas = new ModelReplicas(baseDir, s.Parallelism, padId);
        var context = new RunContext(Path.Combine(outputDirectory, ".coordinator"), baseDir, tokenizer, padId, replicas);
        switch (s.Mode)
        {
            case TrainingMode.Centralised:
                return await FederateAsync(run with { Settings = TrainingBounds.Centralised(s) }, TrainingBounds.Pooled(clientsData), context, task: true, cancellation);
            case TrainingMode.Local:
                var perClient = new List<IReadOnlyList<RoundMetrics>>();
                for (int i = 0; i < clientsData.Clients.Count; i++)
                    perClient.Add(await FederateAsync(run with { Settings = TrainingBounds.Local(s, i) }, TrainingBounds.Only(clientsData, i), context, task: false, cancellation));
                return TrainingBounds.Mean(perClient);
            default:
                return await FederateAsync(run, clientsData, context, task: true, cancellation);
        }
    }

    /// <summary>What the federations of one run share: the base model, its replicas, where the coordinator keeps its files.</summary>
    sealed record RunContext(string CoordinatorDirectory, string BaseDirectory, ITextTokenizer Tokenizer, int PadId, ModelReplicas Replicas);

    /// <summary>One federation from the base model to its last round, on a coordinator of its own.</summary>
    async Task<IReadOnlyList<RoundMetrics>> FederateAsync(ExperimentRun run, SimulationData clientsData, RunContext context, bool task, CancellationToken cancellation)
    {
        var s = run.Settings;
        var (replicas, tokenizer, padId) = (context.Replicas, context.Tokenizer, context.PadId);
        string coordinatorDir = context.CoordinatorDirectory;
        var rows = new List<RoundMetrics>();
        await using (var coordinator = await SimulatedCoordinator.StartAsync(coordinatorDir, cancellation))
        {
            string fed = run.Experiment;
            var attackers = Attackers(s);
            await SetUpAsync(coordinator, fed, run, s, context.BaseDirectory);

            rows.Add(Baseline(replicas, clientsData, s, tokenizer, context.BaseDirectory));
            progress.RoundDone(run, rows[0]);
            var federation = coordinator.Grains.GetGrain<IFederationGrain>(fed);
            int previous = 0;
            for (int completed = 0; completed < s.Rounds;)
            {
                var view = await NextRoundAsync(coordinator, federation, fed, previous, cancellation);
                if (view.Status != FederationStatus.Running) break;
                previous = view.CurrentRound;
                // Losses and the task metric at the final round, and every lossEveryRounds / taskEveryRounds rounds on the way
                // (the task costs seconds per round).
                bool final = completed + 1 >= s.Rounds || view.CurrentRound >= s.Rounds;
                int every = s.Evaluation.TaskEveryRounds;
                bool evaluateTask = final || (every > 0 && view.CurrentRound % every == 0);
                bool loss = evaluateTask || view.CurrentRound % s.Evaluation.LossEveryRounds == 0;
                var row = await RunRoundAsync(coordinator, fed, view.CurrentRound, run, clientsData, attackers, replicas, padId,
                    loss ? new Evaluation(evaluateTask && task ? tokenizer : null) : null, cancellation);
                rows.Add(row);
                progress.RoundDone(run, row);
                if (row.Status == "closed") completed++;
            }
            // The last round reports back to the federation after it closes, and the federation then exports its final model
            // into the store: wait until it has moved on (finished, or opened a round nobody will run), and stop the
            // coordinator, before its directory is deleted (a late write once failed the delete).
            while ((await federation.GetAsync()) is { Status: FederationStatus.Running } f && f.CurrentRound == previous)
                await Task.Delay(PollInterval, cancellation);
        }
        Directory.Delete(coordinatorDir, recursive: true);
        return rows;
    }

    static async Task SetUpAsync(SimulatedCoordinator coordinator, string fed, ExperimentRun run, RunSettings s, string baseDir)
    {
        // Ranks come from the federation's rank policy, as for real agents: client i reports the GPU memory of a
        // tier that yields Ranks[i mod n].
        var ranks = s.Ranks.Distinct().Order().ToArray();
        var policy = ranks.Length == 1 ? RankPolicy.Fixed(ranks[0], s.AlphaPerRank)
            : new RankPolicy(ranks[0], ranks.Skip(1).Select(r => new RankTier(r * GiB, r)).ToArray(), s.AlphaPerRank);
        var config = new FederationConfig(
            BaseModel: Path.GetFileName(baseDir.TrimEnd('/')), TargetModules: s.TargetModules, RankPolicy: policy,
            Aggregation: new AggregationSettings(s.Strategy, s.Rule, s.PreAggregator, s.ByzantineCount, OutputRank: s.OutputRank, NormCap: s.NormCap,
                GlobalEnergy: s.GlobalEnergy),
            Training: new TrainingPlan(s.LocalSteps, s.BatchSize, s.LearningRate),
            Rounds: s.Rounds, ClientsPerRound: s.ClientsPerRound, Quorum: run.Quorum,
            RoundDeadline: TimeSpan.FromDays(1), ClientTimeout: TimeSpan.FromDays(1),
            MinReputation: 0, MaxConsecutiveFailures: s.Rounds, Seed: s.Seed, Architecture: Architecture(LlamaConfig.Read(Path.Combine(baseDir, "config.json"))));
        await coordinator.Grains.GetGrain<IFederationGrain>(fed).CreateAsync(config);
        for (int i = 0; i < s.Clients; i++)
        {
            int rank = s.Ranks[i % s.Ranks.Length];
            await coordinator.Grains.GetGrain<IClientGrain>(ClientId(i)).RegisterAsync(fed, new ClientCapabilities("cuda", rank * GiB));
        }
        await coordinator.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
    }

    async Task<RoundMetrics> RunRoundAsync(SimulatedCoordinator coordinator, string fed, int roundNumber, ExperimentRun run,
        SimulationData clientsData, HashSet<int> attackers, ModelReplicas replicas, int padId, Evaluation? evaluation, CancellationToken cancellation)
    {
        var s = run.Settings;
        var clock = Stopwatch.StartNew();
        var round = coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, roundNumber));
        var view = await round.GetAsync();
        var fates = view.Selected.ToDictionary(c => c, c => Fate(s, roundNumber, c));
        var training = view.Selected.Where(c => fates[c] != ClientFate.Dropped).ToList();
        progress.RoundStarted(run, roundNumber, training.Count);

        // Everyone who answers trains honestly first; attackers then replace their update knowing the honest ones. An attack
        // that reads only the layout of its own update (crafted from the honest ones) spares its attackers the training.
        var attack = s.Attack is { } spec ? ByzantineAttacks.Create(spec.Type, spec.Strength) : null;
        bool anyHonest = training.Any(c => !attackers.Contains(IndexOf(c)));
        var trained = await Task.WhenAll(training.Select(async client =>
        {
            var assignment = (await round.GetAssignmentAsync(client))!;
            var examples = clientsData.Clients[IndexOf(client)].Train;
            if (attack is { ReadsOwnUpdate: false } && anyHonest && attackers.Contains(IndexOf(client)))
            {
                progress.ClientTrained(run, roundNumber);
                return (Client: client, Update: (LoraAdapter?)null, Loss: double.NaN, Examples: examples.Count, Rank: assignment.Rank,
                    Alpha: assignment.Alpha, Rules: BaseModelManifest.Admission(assignment.BaseModel, assignment.TargetModules, assignment.Architecture,
                        assignment.Rank, assignment.FreezeA && assignment.Init is { } frozen ? await LoadAsync(coordinator, frozen) : null));
            }
            var history = History(coordinator, (assignment.History ?? []).Select(h => h.Adapter));
            using var init = assignment.Init is { } i ? await LoadAsync(coordinator, i) : null;
            var task = new ClientRoundTask(assignment.TargetModules, assignment.Rank, assignment.Alpha, assignment.Training.LoraDropout,
                assignment.Training.LocalSteps, assignment.Training.BatchSize, assignment.Training.LearningRate,
                Seed: unchecked(assignment.Seed ^ (s.Seed * 1_000_003 + roundNumber * 1009 + IndexOf(client))), assignment.BaseModel, assignment.FreezeA);
            var (update, metrics) = await replicas.RunAsync(replica =>
            {
                replica.MergeHistory(history);
                return replica.Train(task, init, examples);
            }, cancellation);
            progress.ClientTrained(run, roundNumber);
            // What the coordinator admits from this client (the frozen A is compared with what it was handed).
            var rules = BaseModelManifest.Admission(assignment.BaseModel, assignment.TargetModules, assignment.Architecture, assignment.Rank,
                assignment.FreezeA ? init?.Clone() : null);
            return (Client: client, Update: (LoraAdapter?)update, Loss: metrics.TrainLoss, Examples: examples.Count, Rank: assignment.Rank,
                Alpha: assignment.Alpha, Rules: rules);
        }));
        var uploads = new Dictionary<string, LoraAdapter>();
        try
        {
            var honest = trained.Where(t => !attackers.Contains(IndexOf(t.Client))).Select(t => t.Update!).ToList();
            var byzantine = trained.Where(t => attackers.Contains(IndexOf(t.Client))).ToList();
            foreach (var t in trained.Where(t => t.Update is not null)) uploads[t.Client] = t.Update!;
            if (attack is not null && byzantine.Count > 0)
            {
                // The round's attackers craft together: they observe the same honest updates, so the attack shares its work.
                var crafted = attack.CraftAll(byzantine.Select(t => new AttackContext(t.Update ?? honest[0],
                    honest.Count > 0 ? honest : [t.Update!], trained.Length, byzantine.Count, seed: s.Seed + roundNumber * 31 + IndexOf(t.Client),
                    t.Rank, t.Alpha)).ToList());
                foreach (var (t, upload) in byzantine.Zip(crafted)) uploads[t.Client] = upload;
            }
            // Refused at upload, as the gRPC path refuses it: never submitted.
            var refused = trained.Where(t => UpdateAdmission.Check(uploads[t.Client], uploads[t.Client].Modules.Max(m => m.Rank), t.Rules) is not null)
                .Select(t => t.Client).ToHashSet();

            var onTime = trained.Where(t => fates[t.Client] == ClientFate.OnTime && !refused.Contains(t.Client)).ToList();
            await Task.WhenAll(onTime.Select(t => SubmitAsync(coordinator, round, t.Client, uploads[t.Client], t.Examples)));
            await round.CloseAsync(); // the simulator's clock runs faster than deadlines: whoever answered is in
            var closed = await WaitFinishedAsync(round, cancellation);
            int late = 0;
            foreach (var t in trained.Where(t => fates[t.Client] == ClientFate.Late && !refused.Contains(t.Client)))
                if (!(await SubmitAsync(coordinator, round, t.Client, uploads[t.Client], t.Examples)).IsAccepted) late++;

            double evalLoss = double.NaN, clientEval = double.NaN, taskSeconds = 0;
            MultipleChoiceResult? taskResult = null;
            int globalRank = 0;
            if (closed.Status == RoundStatus.Closed && closed.Model is { } model && evaluation is not null)
            {
                // The federation's whole model: base + merged history, with the live adapter attached.
                replicas.Any.MergeHistory(History(coordinator, model.History.Select(h => h.Adapter)));
                using var live = model.Live is { } l ? await LoadAsync(coordinator, l) : null;
                using var latest = live is null && model.History.Length > 0 ? await LoadAsync(coordinator, model.History[^1].Adapter) : null;
                globalRank = (live ?? latest)?.Modules.Max(m => m.Rank) ?? 0;
                (evalLoss, clientEval) = Evaluate(replicas, clientsData, s, live);
                if (evaluation.TaskTokenizer is { } taskTokenizer)
                    (taskResult, taskSeconds) = EvaluateTask(replicas, clientsData, s, live, taskTokenizer);
            }
            // The training loss of the honest clients: an attacker's is not what the federation learns from (and one that
            // crafts from the honest updates does not train).
            var honestLosses = trained.Where(t => !attackers.Contains(IndexOf(t.Client))).Select(t => t.Loss).ToList();
            var outcomes = closed.Outcomes.ToDictionary(o => o.ClientId);
            // Only a closed round says who the rule let in; a failed one excluded everybody alike.
            var attackerOutcomes = closed.Status == RoundStatus.Closed ? outcomes.Values.Where(o => attackers.Contains(IndexOf(o.ClientId))).ToList() : [];
            return new RoundMetrics(roundNumber, closed.Status.ToString().ToLowerInvariant(), view.Selected.Length, onTime.Count,
                closed.Outcomes.Count(o => o.Accepted), closed.Outcomes.Count(o => !o.Accepted),
                fates.Values.Count(f => f == ClientFate.Dropped), late,
                attackerOutcomes.Count, attackerOutcomes.Count(o => !o.Accepted || o.Coefficient == 0),
                honestLosses.Count == 0 ? double.NaN : honestLosses.Average(), evalLoss, clientEval, globalRank,
                clock.Elapsed.TotalSeconds, closed.AggregationTime?.TotalSeconds ?? 0, refused.Count, taskResult, taskSeconds);
        }
        finally
        {
            foreach (var t in trained)
            {
                if (uploads.TryGetValue(t.Client, out var upload) && !ReferenceEquals(upload, t.Update)) upload.Dispose();
                t.Update?.Dispose();
                t.Rules.FrozenA?.Dispose();
            }
        }
    }

    static async Task<SubmissionReceipt> SubmitAsync(SimulatedCoordinator coordinator, IRoundGrain round, string client, LoraAdapter update, int examples)
    {
        var reference = await coordinator.Store.PutAsync(new MemoryStream(AdapterPayload.ToBytes(update)));
        return await round.SubmitAsync(client, new Submission(reference, examples, update.Modules.Max(m => m.Rank)));
    }

    static async Task<LoraAdapter> LoadAsync(SimulatedCoordinator coordinator, StoredUpdate adapter) =>
        AdapterPayload.Read(await coordinator.Store.ReadAsync(adapter), adapter.ToString());

    /// <summary>
    /// The history as (key, loader) pairs: a replica reads only the deltas it has not merged yet, on its own thread, instead
    /// of every client reading the whole history every round.
    /// </summary>
    static IReadOnlyList<(string Key, Func<LoraAdapter> Load)> History(SimulatedCoordinator coordinator, IEnumerable<StoredUpdate> deltas) =>
        deltas.Select(d => (d.Sha256, (Func<LoraAdapter>)(() => LoadAsync(coordinator, d).GetAwaiter().GetResult()))).ToList();

    static ModelArchitecture Architecture(LlamaConfig c) =>
        new(c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.KeyValueHeads, c.IntermediateSize, c.HeadDimOverride);

    /// <summary>
    /// The federation once it has moved past <paramref name="previous"/> and opened the next round (or stopped): a round
    /// reports back to its federation just after it closes, and the federation then opens the next one.
    /// </summary>
    static async Task<FederationView> NextRoundAsync(SimulatedCoordinator coordinator, IFederationGrain federation, string fed, int previous, CancellationToken cancellation)
    {
        while (true)
        {
            var view = await federation.GetAsync();
            if (view.Status != FederationStatus.Running) return view;
            if (view.CurrentRound > previous)
            {
                try
                {
                    await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, view.CurrentRound)).GetAsync();
                    return view;
                }
                catch (FederationException e) when (e.Error == FederationError.NotFound) { } // being opened
            }
            await Task.Delay(PollInterval, cancellation);
        }
    }

    /// <summary>
    /// How often the simulator asks the in-process grains whether a round has finished or opened: a call costs microseconds
    /// here, and a round's aggregation tens of milliseconds, so a coarser poll adds a large share of it to every round.
    /// </summary>
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(2);

    static async Task<RoundView> WaitFinishedAsync(IRoundGrain round, CancellationToken cancellation)
    {
        while (true)
        {
            var view = await round.GetAsync();
            if (view.Status is RoundStatus.Closed or RoundStatus.Failed) return view;
            await Task.Delay(PollInterval, cancellation);
        }
    }

    // The base model's held-out losses per (base model, batch size, evaluation sets) and its task result per (base model,
    // items): the variants of one seed share them (the variants of an experiment differ in how they train, not in what they
    // start from), and they cost seconds per run.
    readonly Dictionary<string, (double Global, double ClientMean)> _baseLosses = [];
    readonly Dictionary<string, MultipleChoiceResult?> _baseTasks = [];

    RoundMetrics Baseline(ModelReplicas replicas, SimulationData data, RunSettings s, ITextTokenizer tokenizer, string baseDir)
    {
        replicas.Any.MergeHistory([]); // the base itself, whatever an earlier federation of this run left merged
        string lossKey = $"{baseDir}\n{s.Evaluation.BatchSize}\n{Fingerprint(data)}";
        if (!_baseLosses.TryGetValue(lossKey, out var losses))
            _baseLosses[lossKey] = losses = Evaluate(replicas, data, s, live: null);
        string key = baseDir + "\n" + Fingerprint(data.TaskItems ?? []);
        double taskSeconds = 0;
        if (!_baseTasks.ContainsKey(key))
            (_baseTasks[key], taskSeconds) = EvaluateTask(replicas, data, s, live: null, tokenizer);
        return new RoundMetrics(0, "base", 0, 0, 0, 0, 0, 0, 0, 0, double.NaN, losses.Global, losses.ClientMean, 0, 0, 0, 0, _baseTasks[key], taskSeconds);
    }

    static string Fingerprint(IReadOnlyList<ChoiceItem> items)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var item in items)
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{item.Direction}\u0001{item.Prompt}\u0001{string.Join("\u0001", item.Options)}\u0001{item.Answer}\u0002"));
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>The held-out sets <see cref="Evaluate"/> reads, in order: the global one, then each client's own.</summary>
    static string Fingerprint(SimulationData data)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var set in data.Clients.Select(c => c.Eval).Prepend(data.GlobalEval))
        {
            sha.AppendData(BitConverter.GetBytes(set.Count));
            foreach (var example in set)
            {
                sha.AppendData(BitConverter.GetBytes(example.Length));
                sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes<int>(example.InputIds.ToArray()));
                sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes<int>(example.Labels.ToArray()));
            }
        }
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>
    /// WordNet multiple choice on the global held-out synsets (the same code as <c>fed model eval --task wordnet-mc</c>),
    /// with every core: no client trains while the global model is evaluated. Null without items.
    /// </summary>
    static (MultipleChoiceResult? Result, double Seconds) EvaluateTask(ModelReplicas replicas, SimulationData data, RunSettings s, LoraAdapter? live, ITextTokenizer tokenizer)
    {
        if (data.TaskItems is not { Count: > 0 } items) return (null, 0);
        var clock = Stopwatch.StartNew();
        var model = replicas.Any.Model;
        if (live is not null)
            using (NativeWork.Enter()) LoraInjection.Import(model, live);
        try
        {
            var scorer = new ModelContinuationScorer(model, tokenizer, s.Evaluation.BatchSize, ModelContinuationScorer.MaxTokens(model));
            return (WithEveryCore(() => MultipleChoiceScorer.Evaluate(items, scorer)), clock.Elapsed.TotalSeconds);
        }
        finally
        {
            if (live is not null)
                using (NativeWork.Enter()) LoraInjection.Remove(model);
        }
    }

    /// <summary>The model's loss on the global held-out set, and the mean over clients of their own held-out slices.</summary>
    static (double Global, double ClientMean) Evaluate(ModelReplicas replicas, SimulationData data, RunSettings s, LoraAdapter? live)
    {
        var clients = data.Clients.Where(c => c.Eval.Count > 0).Select(c => c.Eval).ToList();
        var losses = WithEveryCore(() => replicas.Any.Evaluate([data.GlobalEval, .. clients], s.Evaluation.BatchSize, live));
        return (losses[0], clients.Count == 0 ? double.NaN : losses.Skip(1).Average());
    }

    /// <summary>Evaluation runs between rounds, when no client trains: it has every core (clients train with one each).</summary>
    static T WithEveryCore<T>(Func<T> work)
    {
        int threads = torch.get_num_threads();
        torch.set_num_threads(Environment.ProcessorCount);
        try { return work(); }
        finally { torch.set_num_threads(threads); }
    }

    /// <summary>What a round evaluates: the held-out losses, and the task when a tokenizer is given.</summary>
    sealed record Evaluation(ITextTokenizer? TaskTokenizer);

    enum ClientFate { OnTime, Late, Dropped }

    static ClientFate Fate(RunSettings s, int round, string client)
    {
        var random = new Random(unchecked((int)(s.Seed * 7919 + round * 104729 + IndexOf(client))));
        double u = random.NextDouble();
        return u < s.DropoutRate ? ClientFate.Dropped : u < s.DropoutRate + s.StragglerRate ? ClientFate.Late : ClientFate.OnTime;
    }

    /// <summary>The Byzantine clients: a seeded choice of round(fraction x clients), fixed for the whole run.</summary>
    static HashSet<int> Attackers(RunSettings s)
    {
        if (s.Attack is not { } attack) return [];
        int count = (int)Math.Round(attack.Fraction * s.Clients);
        var order = Enumerable.Range(0, s.Clients).ToArray();
        new Random(unchecked((int)s.Seed) ^ 0x5eed).Shuffle(order);
        return order.Take(count).ToHashSet();
    }

    static string ClientId(int index) => $"client-{index:D3}";
    static int IndexOf(string clientId) => int.Parse(clientId.AsSpan("client-".Length));
}
