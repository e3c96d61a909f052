using Federated.Contracts;
using Microsoft.Extensions.Logging;

namespace Federated.Grains.Federations;

[GenerateSerializer, Alias("fl.FederationState")]
public sealed class FederationState
{
    [Id(0)] public FederationConfig? Config { get; set; }
    [Id(1)] public FederationStatus Status { get; set; }
    [Id(2)] public int CurrentRound { get; set; }
    [Id(3)] public int CompletedRounds { get; set; }
    [Id(4)] public StoredUpdate? Global { get; set; }
    [Id(5)] public List<RoundRecord> History { get; set; } = [];
    [Id(6)] public string? FailureReason { get; set; }
    [Id(7)] public DateTime CreatedAt { get; set; }
    [Id(8)] public int ConsecutiveFailures { get; set; }
    /// <summary>History, live adapter and next inits: what the next round starts from.</summary>
    [Id(9)] public FederationModel Model { get; set; } = FederationModel.Empty;
    /// <summary>Exports of <see cref="Model"/> by kind (exact, rank-R, vllm-E), dropped when the model moves on.</summary>
    [Id(10)] public Dictionary<string, ModelExport> Exports { get; set; } = new(StringComparer.Ordinal);
    /// <summary>The exact export of the whole model once the federation stopped.</summary>
    [Id(11)] public StoredUpdate? FinalModel { get; set; }
}

/// <summary>
/// Owns a federation's config and round counter. Opens round t + 1 when round t reports back, recording
/// the new global adapter; a failed round (below quorum) is retried as the next round until
/// <see cref="FederationConfig.MaxConsecutiveFailures"/>.
/// </summary>
public sealed class FederationGrain(
    [PersistentState("federation", GrainStorage.Name)] IPersistentState<FederationState> state,
    ILogger<FederationGrain> logger) : Grain, IFederationGrain
{
    FederationState S => state.State;
    string Id => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // After a restart the current round's deadline timer is gone until the round is called again.
        if (S.Status == FederationStatus.Running)
            this.RegisterGrainTimer(_ => ResumeAsync(), new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        return Task.CompletedTask;
    }

    public async Task<FederationView> CreateAsync(FederationConfig config)
    {
        FederationConfigValidation.Validate(Id, config);
        if (S.Config is not null)
        {
            if (FederationConfigValidation.SameConfig(S.Config, config))
            {
                await GrainFactory.GetGrain<IFederationDirectoryGrain>(0).AddAsync(Id); // in case a first attempt stopped short of it
                return View();
            }
            throw new FederationException(FederationError.AlreadyExists, $"federation '{Id}' already exists with a different config");
        }
        S.Config = config;
        S.Status = FederationStatus.Created;
        S.CreatedAt = DateTime.UtcNow;
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IFederationDirectoryGrain>(0).AddAsync(Id);
        logger.LogInformation("Federation {Federation} created: {Strategy}{Rule}, {Rounds} rounds of {Clients} clients, quorum {Quorum}",
            Id, config.Aggregation.Strategy, config.Aggregation.Rule is { } r ? " + " + r : "", config.Rounds, config.ClientsPerRound, config.Quorum);
        return View();
    }

    public async Task<FederationView> StartAsync()
    {
        var config = RequireConfig();
        if (S.Status == FederationStatus.Running) return View();
        if (S.Status != FederationStatus.Created)
            throw new FederationException(FederationError.FailedPrecondition, $"federation '{Id}' is {S.Status.ToString().ToLowerInvariant()}; it cannot start again");

        var counts = await Task.WhenAll(Enumerable.Range(0, GrainKeys.RosterShards)
            .Select(i => GrainFactory.GetGrain<IRosterGrain>(GrainKeys.Roster(Id, i)).CountAsync()));
        int registered = counts.Sum();
        if (registered < config.Quorum)
            throw new FederationException(FederationError.FailedPrecondition,
                $"federation '{Id}' has {registered} registered client(s); a round needs a quorum of {config.Quorum}");

        // Strategies whose clients share one seeded adapter draw and store it (and each rank's share of it) once, here.
        S.Model = await GrainFactory.GetGrain<IAggregationWorkerGrain>(0).InitializeAsync(ModelJob.For(Id, config, FederationModel.Empty));
        S.Status = FederationStatus.Running;
        S.CurrentRound = 1;
        await state.WriteStateAsync();
        await OpenCurrentRoundAsync();
        return View();
    }

    public Task<FederationView> GetAsync()
    {
        RequireConfig();
        return Task.FromResult(View());
    }

    public async Task ResumeAsync()
    {
        if (S.Status == FederationStatus.Running)
            await OpenCurrentRoundAsync(); // idempotent: an opened round answers with its view, and activating it restarts its timers
    }

    public async Task RoundFinishedAsync(RoundView round)
    {
        RequireConfig();
        if (S.Status != FederationStatus.Running || round.Round < S.CurrentRound)
        {
            await FinishAsync(); // already recorded: a retried report (which also retries an export that failed)
            return;
        }
        if (round.Round > S.CurrentRound || round.Status is RoundStatus.Open or RoundStatus.Aggregating)
            throw new FederationException(FederationError.FailedPrecondition,
                $"round {round.Round} ({round.Status}) reported to federation '{Id}', which is at round {S.CurrentRound}");
        Record(round);
        await state.WriteStateAsync();
        await OpenCurrentRoundAsync();
    }

    public async Task<ModelExport> ExportModelAsync(int? rank = null, double? maxError = null)
    {
        var config = RequireConfig();
        if (rank is < 1 or > 65536)
            throw new FederationException(FederationError.InvalidArgument, $"rank: must be between 1 and 65536, not {rank}");
        if (maxError is { } e && !(e > 0 && e < 1))
            throw new FederationException(FederationError.InvalidArgument, $"maxError: must be in (0, 1), not {maxError}");
        var deltas = S.Model.Deltas().ToArray();
        if (deltas.Length == 0)
            throw new FederationException(FederationError.NotFound, $"federation '{Id}' has no model yet (completed rounds: {S.CompletedRounds})");
        var job = new ExportJob(config.BaseModel, deltas, rank, maxError);
        if (S.Exports.TryGetValue(job.Kind, out var cached) && cached.CompletedRounds == S.CompletedRounds) return cached;
        StoredUpdate payload;
        try { payload = await GrainFactory.GetGrain<IAggregationWorkerGrain>(0).ExportAsync(job); }
        catch (ArgumentException ex) { throw new FederationException(FederationError.InvalidArgument, ex.Message); }
        var export = new ModelExport(payload, S.CompletedRounds, job.Kind);
        S.Exports[job.Kind] = export;
        await state.WriteStateAsync();
        return export;
    }

    /// <summary>A federation that stopped references its whole model, exported exactly once (Done.final_model).</summary>
    async Task FinishAsync()
    {
        if (S.Status is FederationStatus.Completed or FederationStatus.Failed && S.FinalModel is null && S.Model.Deltas().Any())
        {
            S.FinalModel = (await ExportModelAsync()).Payload;
            await state.WriteStateAsync();
        }
    }

    /// <summary>Opens <see cref="FederationState.CurrentRound"/>; a round that fails at once (too few live clients) is recorded and the next one tried.</summary>
    async Task OpenCurrentRoundAsync()
    {
        while (S.Status == FederationStatus.Running)
        {
            var round = GrainFactory.GetGrain<IRoundGrain>(GrainKeys.Round(Id, S.CurrentRound));
            var view = await round.OpenAsync(new RoundSpec(Id, S.CurrentRound, S.Config!, S.Model));
            if (view.Status != RoundStatus.Failed) return;
            Record(view);
            await state.WriteStateAsync();
        }
        await FinishAsync();
    }

    /// <summary>Records a finished round and advances the counter (and the status when the federation is done).</summary>
    void Record(RoundView round)
    {
        var config = S.Config!;
        S.History.Add(new RoundRecord(round.Round, round.Status, round.Global, round.Selected.Length,
            round.Outcomes.Count(o => o.Accepted), round.Outcomes.Count(o => !o.Accepted), round.OpenedAt, round.ClosedAt, round.FailureReason, round.CompactionError));
        if (round.Status == RoundStatus.Closed)
        {
            S.Global = round.Global;
            if (round.Model is { } model) S.Model = model;
            S.Exports.Clear(); // of the model before this round
            S.CompletedRounds++;
            S.ConsecutiveFailures = 0;
            logger.LogInformation("Federation {Federation} round {Round} closed: {Accepted} update(s) aggregated into {Global}",
                Id, round.Round, round.Outcomes.Count(o => o.Accepted), round.Global);
        }
        else
        {
            S.ConsecutiveFailures++;
            logger.LogWarning("Federation {Federation} round {Round} failed: {Reason}", Id, round.Round, round.FailureReason);
        }

        S.CurrentRound = round.Round + 1;
        if (S.CompletedRounds >= config.Rounds)
        {
            S.Status = FederationStatus.Completed;
            logger.LogInformation("Federation {Federation} completed {Rounds} rounds", Id, S.CompletedRounds);
        }
        else if (S.ConsecutiveFailures >= config.MaxConsecutiveFailures)
        {
            S.Status = FederationStatus.Failed;
            S.FailureReason = $"{S.ConsecutiveFailures} rounds failed in a row; last: {round.FailureReason}";
        }
    }

    FederationConfig RequireConfig() => S.Config
        ?? throw new FederationException(FederationError.NotFound, $"no federation '{Id}'");

    FederationView View() => new(Id, S.Config!, S.Status, S.CurrentRound, S.CompletedRounds, S.Global, [.. S.History], S.FailureReason, S.CreatedAt, S.Model, S.FinalModel);
}
