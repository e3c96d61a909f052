using Federated.Contracts;
using Federated.Core.Federation;
using Federated.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Federated.Grains.Rounds;

/// <summary>
/// Runs one round. Reentrant so that a thousand concurrent submissions share state writes
/// (<see cref="CoalescingWriter"/>); every state transition therefore happens synchronously between awaits,
/// and a submission is acknowledged only after a write that includes it. After a crash the persisted status
/// says what is left to do: reactivation (by any call, or the watchdog reminder) resumes it.
/// </summary>
[Reentrant]
public sealed class RoundGrain : Grain, IRoundGrain, IRemindable
{
    const string WatchdogReminder = "round-watchdog";
    static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMinutes(1);
    const int MaxAggregationAttempts = 3;

    readonly IPersistentState<RoundState> _state;
    readonly IUpdateStore _store;
    readonly CoordinatorMetrics _metrics;
    readonly ILogger<RoundGrain> _logger;
    readonly CoalescingWriter _writer;
    Task<RoundView>? _opening;
    IGrainTimer? _deadlineTimer, _advanceTimer;
    bool _advancing;

    public RoundGrain([PersistentState("round", GrainStorage.Name)] IPersistentState<RoundState> state,
        IUpdateStore store, CoordinatorMetrics metrics, ILogger<RoundGrain> logger)
    {
        _state = state;
        _store = store;
        _metrics = metrics;
        _logger = logger;
        _writer = new CoalescingWriter(() => _state.WriteStateAsync());
    }

    RoundState S => _state.State;
    bool Finished => S.Status is RoundStatus.Closed or RoundStatus.Failed;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Spec is null) return Task.CompletedTask;
        if (S.Status == RoundStatus.Open) ScheduleDeadline();
        else if (S.Status == RoundStatus.Aggregating || !S.FederationNotified) ScheduleAdvance();
        return Task.CompletedTask;
    }

    public Task<RoundView> OpenAsync(RoundSpec spec)
    {
        if (S.Spec is not null) return Task.FromResult(View());
        return _opening ??= OpenCoreAsync(spec);
    }

    async Task<RoundView> OpenCoreAsync(RoundSpec spec)
    {
        if (GrainKeys.Round(spec.FederationId, spec.Round) != this.GetPrimaryKeyString())
            throw new FederationException(FederationError.InvalidArgument, $"round spec {spec.FederationId}/{spec.Round} sent to round {this.GetPrimaryKeyString()}");
        var config = spec.Config;
        var now = DateTime.UtcNow;
        var candidates = await Task.WhenAll(Enumerable.Range(0, GrainKeys.RosterShards).Select(i =>
            GrainFactory.GetGrain<IRosterGrain>(GrainKeys.Roster(spec.FederationId, i)).CandidatesAsync(now - config.ClientTimeout, config.MinReputation)));
        var eligible = candidates.SelectMany(c => c).ToList();
        var selected = ClientSelection.Select(eligible, config.ClientsPerRound, config.Seed, spec.Round);

        S.Spec = spec;
        S.OpenedAt = now;
        S.Deadline = now + config.RoundDeadline;
        S.Selected = selected.ToDictionary(c => c.ClientId, c => c.Rank, StringComparer.Ordinal);
        if (selected.Length < config.Quorum)
        {
            // The federation learns this from the returned view, not from a report back.
            Fail($"only {eligible.Count} eligible client(s) (registered, seen within {config.ClientTimeout}, reputation >= {config.MinReputation}); the quorum is {config.Quorum}");
            S.FederationNotified = true;
            await _writer.WriteAsync();
            return View();
        }
        S.Status = RoundStatus.Open;
        await _writer.WriteAsync();
        await this.RegisterOrUpdateReminder(WatchdogReminder, config.RoundDeadline + TimeSpan.FromSeconds(5), WatchdogPeriod);
        ScheduleDeadline();
        _logger.LogInformation("Round {Federation}/{Round} open: {Selected} of {Eligible} eligible clients selected, deadline {Deadline:O}",
            spec.FederationId, spec.Round, selected.Length, eligible.Count, S.Deadline);
        return View();
    }

    public Task<Assignment?> GetAssignmentAsync(string clientId)
    {
        if (S.Spec is not { } spec || !S.Selected.TryGetValue(clientId, out int rank)) return Task.FromResult<Assignment?>(null);
        var c = spec.Config;
        var model = spec.Model ?? FederationModel.Empty;
        var strategy = FederatedStrategies.Get(c.Aggregation.Strategy);
        return Task.FromResult<Assignment?>(new Assignment(spec.FederationId, spec.Round, c.BaseModel, c.TargetModules, rank,
            c.RankPolicy.AlphaFor(rank), c.Training, S.Deadline, S.Status, S.Submissions.ContainsKey(clientId),
            model.History, model.InitFor(rank), strategy.FreezesA, BranchSeed(c.Seed, spec.Round), strategy.Name, c.Architecture));
    }

    /// <summary>
    /// The round's seed for fresh branches: the federation's seed and the round mixed (FNV-1a), so a federation repeats.
    /// Clients mix in their own seed (Agent:Seed; the simulator its client index), which keeps an agent's update a
    /// function of its own settings and data, whatever id it enrolled under.
    /// </summary>
    static long BranchSeed(long seed, int round)
    {
        ulong hash = 14695981039346656037UL ^ (ulong)seed;
        foreach (byte b in BitConverter.GetBytes(round))
            hash = (hash ^ b) * 1099511628211UL;
        return (long)(hash >> 1);
    }

    public async Task<SubmissionReceipt> SubmitAsync(string clientId, Submission submission)
    {
        if (Refusal(clientId, submission) is { } refused) return Refuse(refused);
        if (!await _store.ContainsAsync(submission.Update.ToReference()))
            return Refuse(new(SubmissionStatus.PayloadMissing, $"update {submission.Update} is not in the update store: upload it first"));
        // The round may have moved on while the store answered.
        if (Refusal(clientId, submission) is { } refusedNow) return Refuse(refusedNow);

        S.Submissions[clientId] = new AcceptedSubmission(submission.Update, submission.ExampleCount, submission.Rank, DateTime.UtcNow);
        try
        {
            await _writer.WriteAsync();
        }
        catch
        {
            // Not durable, so not accepted: the client retries.
            if (S.Status == RoundStatus.Open && S.Submissions.TryGetValue(clientId, out var s) && s.Update == submission.Update)
                S.Submissions.Remove(clientId);
            throw;
        }
        _metrics.SubmissionAccepted(submission.Update.Size);
        if (S.Status == RoundStatus.Open && S.Submissions.Count == S.Selected.Count)
            ScheduleAdvance(); // not inline: the last submitter need not wait for the aggregation
        return new SubmissionReceipt(SubmissionStatus.Accepted);
    }

    SubmissionReceipt? Refusal(string clientId, Submission s)
    {
        if (S.Spec is not { } spec)
            return new(SubmissionStatus.RoundClosed, $"round {this.GetPrimaryKeyString()} has not been opened");
        string round = $"round {spec.Round} of federation '{spec.FederationId}'";
        if (!StoredUpdates.IsWellFormed(s.Update) || s.ExampleCount < 1 || s.Rank < 1)
            return new(SubmissionStatus.InvalidSubmission, "a submission needs a stored update (64 hex digits of SHA-256, positive size), an example count >= 1 and a rank >= 1");
        if (S.Submissions.TryGetValue(clientId, out var previous))
        {
            if (previous.Update == s.Update) return new(SubmissionStatus.Duplicate, $"update {s.Update} was already accepted in {round}");
            if (S.Status != RoundStatus.Open) return new(SubmissionStatus.RoundClosed, $"{round} is {Describe(S.Status)}");
            return new(SubmissionStatus.Conflict, $"client '{clientId}' already submitted {previous.Update} in {round}; one update per client and round");
        }
        if (S.Status != RoundStatus.Open) return new(SubmissionStatus.RoundClosed, $"{round} is {Describe(S.Status)}");
        if (!S.Selected.TryGetValue(clientId, out int assigned)) return new(SubmissionStatus.NotSelected, $"client '{clientId}' was not selected for {round}");
        if (s.Rank > assigned) return new(SubmissionStatus.RankTooHigh, $"rank {s.Rank} exceeds the rank {assigned} assigned to client '{clientId}' in {round}");
        return null;
    }

    SubmissionReceipt Refuse(SubmissionReceipt receipt)
    {
        if (receipt.Status != SubmissionStatus.Duplicate)
            _metrics.SubmissionRejected(receipt.Status.ToString());
        return receipt;
    }

    public Task<RoundView> GetAsync() => S.Spec is null
        ? throw new FederationException(FederationError.NotFound, $"round {this.GetPrimaryKeyString()} has not been opened")
        : Task.FromResult(View());

    public async Task<RoundView> CloseAsync()
    {
        if (S.Spec is null) throw new FederationException(FederationError.NotFound, $"round {this.GetPrimaryKeyString()} has not been opened");
        if (S.Status == RoundStatus.Open && DateTime.UtcNow < S.Deadline)
        {
            S.Deadline = DateTime.UtcNow;
            await _writer.WriteAsync();
        }
        await AdvanceAsync();
        return View();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => AdvanceAsync();

    void ScheduleDeadline()
    {
        _deadlineTimer?.Dispose();
        var due = S.Deadline - DateTime.UtcNow;
        _deadlineTimer = this.RegisterGrainTimer(_ => AdvanceAsync(),
            new GrainTimerCreationOptions(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    void ScheduleAdvance()
    {
        _advanceTimer?.Dispose();
        _advanceTimer = this.RegisterGrainTimer(_ => AdvanceAsync(),
            new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    /// <summary>Does whatever the persisted status says is due: close at the deadline, aggregate, tell the federation, stop the watchdog.</summary>
    async Task AdvanceAsync()
    {
        if (_advancing || S.Spec is null) return;
        _advancing = true;
        try
        {
            var config = S.Spec.Config;
            if (S.Status == RoundStatus.Open && DateTime.UtcNow < S.Deadline && S.Submissions.Count < S.Selected.Count)
                ScheduleDeadline(); // timers may fire a little early: re-arm rather than miss the deadline
            else if (S.Status == RoundStatus.Open)
            {
                if (S.Submissions.Count >= config.Quorum) S.Status = RoundStatus.Aggregating;
                else Fail($"{S.Submissions.Count} of {S.Selected.Count} selected clients submitted by the deadline; the quorum is {config.Quorum}");
                _deadlineTimer?.Dispose();
                await _writer.WriteAsync();
            }
            if (S.Status == RoundStatus.Aggregating)
                await AggregateAsync();
            if (Finished && !S.FederationNotified)
                await ReportAsync();
            if (Finished && S.FederationNotified && await this.GetReminder(WatchdogReminder) is { } watchdog)
                await this.UnregisterReminder(watchdog);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Round {Round} could not advance from {Status}; the watchdog retries within {Period}", this.GetPrimaryKeyString(), S.Status, WatchdogPeriod);
        }
        finally
        {
            _advancing = false;
        }
    }

    async Task AggregateAsync()
    {
        var spec = S.Spec!;
        S.AggregationAttempts++;
        await _writer.WriteAsync();
        var model = spec.Model ?? FederationModel.Empty;
        var job = new AggregationJob(spec.FederationId, spec.Round, spec.Config.BaseModel, spec.Config.Aggregation,
            S.Submissions.OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => new JobUpdate(p.Key, p.Value.Update, spec.Config.Aggregation.CountedExamples(p.Value.ExampleCount), S.Selected[p.Key], model.InitFor(S.Selected[p.Key]))).ToArray(),
            spec.Config.TargetModules, ModelJob.For(spec.FederationId, spec.Config, model));

        AggregationOutcome outcome;
        try
        {
            outcome = await GrainFactory.GetGrain<IAggregationWorkerGrain>(0).AggregateAsync(job);
        }
        catch (Exception e) when (S.AggregationAttempts >= MaxAggregationAttempts)
        {
            outcome = new AggregationOutcome(null, [], TimeSpan.Zero, $"aggregation failed {S.AggregationAttempts} times; last error: {e.Message}");
        }

        S.Outcomes = outcome.Clients;
        S.AggregationTime = outcome.Duration;
        if (outcome.Global is { } global)
        {
            S.Global = global;
            S.Model = outcome.Model;
            S.CompactionError = outcome.CompactionError;
            S.Status = RoundStatus.Closed;
            S.ClosedAt = DateTime.UtcNow;
            _metrics.RoundFinished("closed", S.ClosedAt.Value - S.OpenedAt);
        }
        else Fail(outcome.Failure ?? "aggregation produced no global adapter");
        await _writer.WriteAsync();
        _logger.LogInformation("Round {Federation}/{Round} {Status} after aggregating {Count} update(s) in {Duration}: {Global}",
            spec.FederationId, spec.Round, S.Status, job.Updates.Length, outcome.Duration, S.Global);
    }

    void Fail(string reason)
    {
        S.Status = RoundStatus.Failed;
        S.FailureReason = reason;
        S.ClosedAt = DateTime.UtcNow;
        _metrics.RoundFinished("failed", S.ClosedAt.Value - S.OpenedAt);
    }

    /// <summary>Counts each submitted update toward its client's reputation, then tells the federation (both idempotent).</summary>
    async Task ReportAsync()
    {
        var spec = S.Spec!;
        await Task.WhenAll(S.Outcomes
            .GroupBy(o => GrainKeys.RosterShardOf(o.ClientId))
            .Select(g => GrainFactory.GetGrain<IRosterGrain>(GrainKeys.Roster(spec.FederationId, g.Key))
                .RecordOutcomesAsync(spec.Round, g.Select(o => new Participation(o.ClientId, o.Accepted && o.Coefficient > 0)).ToArray())));
        await GrainFactory.GetGrain<IFederationGrain>(spec.FederationId).RoundFinishedAsync(View());
        S.FederationNotified = true;
        await _writer.WriteAsync();
    }

    static string Describe(RoundStatus status) => status switch
    {
        RoundStatus.Aggregating => "closed (aggregating)",
        _ => status.ToString().ToLowerInvariant(),
    };

    RoundView View()
    {
        var spec = S.Spec!;
        return new RoundView(spec.FederationId, spec.Round, S.Status, S.Selected.Keys.Order(StringComparer.Ordinal).ToArray(), S.Submissions.Count,
            spec.Config.Quorum, S.OpenedAt, S.Deadline, S.ClosedAt, S.Global, S.Outcomes, S.FailureReason, S.AggregationTime, S.Model, S.CompactionError);
    }
}
