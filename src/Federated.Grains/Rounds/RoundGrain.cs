using Federated.Contracts;
using Federated.Core.Federation;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Federated.Grains.Rounds;

/// <summary>
/// Runs one round: the rules are <see cref="Round"/>'s; this grain supplies the clock, timers, the watchdog reminder,
/// persistence and the calls to other grains. Reentrant so that a thousand concurrent submissions share state writes
/// (<see cref="CoalescingWriter"/>); every transition therefore happens synchronously between awaits, and a submission
/// is acknowledged only after a write that includes it. After a crash the persisted status says what is left to do
/// (<see cref="Round.Due"/>): reactivation (by any call, or the watchdog reminder) resumes it.
/// </summary>
[Reentrant]
public sealed class RoundGrain : Grain, IRoundGrain, IRemindable
{
    const string WatchdogReminder = "round-watchdog";
    static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMinutes(1);

    readonly IPersistentState<RoundState> _state;
    readonly IContentStore _store;
    readonly CoordinatorMetrics _metrics;
    readonly ILogger<RoundGrain> _logger;
    readonly CoalescingWriter _writer;
    Task<RoundView>? _opening;
    IGrainTimer? _deadlineTimer, _advanceTimer;
    bool _advancing;

    public RoundGrain([PersistentState("round", GrainStorage.Name)] IPersistentState<RoundState> state,
        IContentStore store, CoordinatorMetrics metrics, ILogger<RoundGrain> logger)
    {
        _state = state;
        _store = store;
        _metrics = metrics;
        _logger = logger;
        _writer = new CoalescingWriter(() => _state.WriteStateAsync());
    }

    // A fresh view of the state each time: reading state from storage may replace the object.
    Round R => new(_state.State, this.GetPrimaryKeyString());

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        switch (R.Due(DateTime.UtcNow))
        {
            case RoundDue.Submissions: ScheduleDeadline(); break;
            case RoundDue.Nothing: break;
            default: ScheduleAdvance(); break;
        }
        return Task.CompletedTask;
    }

    public Task<RoundView> OpenAsync(RoundSpec spec)
    {
        if (R.IsOpened) return Task.FromResult(R.View());
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

        bool open = false;
        Finishing(round => open = round.Open(spec, selected, eligible.Count, now));
        await _writer.WriteAsync();
        if (!open) return R.View();
        await this.RegisterOrUpdateReminder(WatchdogReminder, config.RoundDeadline + TimeSpan.FromSeconds(5), WatchdogPeriod);
        ScheduleDeadline();
        _logger.LogInformation("Round {Federation}/{Round} open: {Selected} of {Eligible} eligible clients selected, deadline {Deadline:O}",
            spec.FederationId, spec.Round, selected.Length, eligible.Count, _state.State.Deadline);
        return R.View();
    }

    public Task<Assignment?> GetAssignmentAsync(string clientId) => Task.FromResult(R.AssignmentFor(clientId));

    public async Task<SubmissionReceipt> SubmitAsync(string clientId, Submission submission)
    {
        if (R.Refusal(clientId, submission) is { } refused) return Refuse(refused);
        if (!await _store.ContainsAsync(submission.Update))
            return Refuse(new(SubmissionStatus.PayloadMissing, $"update {submission.Update} is not in the update store: upload it first"));
        // The round may have moved on while the store answered.
        if (R.Refusal(clientId, submission) is { } refusedNow) return Refuse(refusedNow);

        bool everyone = R.Accept(clientId, submission, DateTime.UtcNow);
        try
        {
            await _writer.WriteAsync();
        }
        catch
        {
            R.Withdraw(clientId, submission);
            throw;
        }
        _metrics.SubmissionAccepted(submission.Update.Size);
        if (everyone && R.Due(DateTime.UtcNow) == RoundDue.Close)
            ScheduleAdvance(); // not inline: the last submitter need not wait for the aggregation
        return new SubmissionReceipt(SubmissionStatus.Accepted);
    }

    SubmissionReceipt Refuse(SubmissionReceipt receipt)
    {
        if (receipt.Status != SubmissionStatus.Duplicate)
            _metrics.SubmissionRejected(receipt.Status.ToString());
        return receipt;
    }

    public async Task<MetricsReceipt> ReportMetricsAsync(string clientId, Dictionary<string, double> metrics)
    {
        if (R.MetricsRefusal(clientId) is { } refused) return refused;
        R.RecordMetrics(clientId, metrics);
        await _writer.WriteAsync();
        var view = R.View();
        _metrics.RoundClientMetrics(view.FederationId, view.Round, view.Metrics!);
        return new MetricsReceipt(MetricsReportStatus.Accepted);
    }

    public Task<RoundView> GetAsync() => Task.FromResult(R.View());

    public async Task<RoundView> CloseAsync()
    {
        if (R.CloseEarly(DateTime.UtcNow)) await _writer.WriteAsync();
        await AdvanceAsync();
        return R.View();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => AdvanceAsync();

    void ScheduleDeadline()
    {
        _deadlineTimer?.Dispose();
        var due = _state.State.Deadline - DateTime.UtcNow;
        _deadlineTimer = this.RegisterGrainTimer(_ => AdvanceAsync(),
            new GrainTimerCreationOptions(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    void ScheduleAdvance()
    {
        _advanceTimer?.Dispose();
        _advanceTimer = this.RegisterGrainTimer(_ => AdvanceAsync(),
            new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    /// <summary>Does whatever is due: close at the deadline, aggregate, tell the federation, stop the watchdog.</summary>
    async Task AdvanceAsync()
    {
        if (_advancing || !R.IsOpened) return;
        _advancing = true;
        try
        {
            var due = R.Due(DateTime.UtcNow);
            if (due == RoundDue.Submissions)
                ScheduleDeadline(); // timers may fire a little early: re-arm rather than miss the deadline
            if (due == RoundDue.Close)
            {
                Finishing(round => round.Close(DateTime.UtcNow));
                _deadlineTimer?.Dispose();
                await _writer.WriteAsync();
            }
            if (R.Due(DateTime.UtcNow) == RoundDue.Aggregation)
                await AggregateAsync();
            if (R.Due(DateTime.UtcNow) == RoundDue.Report)
                await ReportAsync();
            if (R.Finished && R.Due(DateTime.UtcNow) == RoundDue.Nothing && await this.GetReminder(WatchdogReminder) is { } watchdog)
                await this.UnregisterReminder(watchdog);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Round {Round} could not advance from {Status}; the watchdog retries within {Period}", this.GetPrimaryKeyString(), _state.State.Status, WatchdogPeriod);
        }
        finally
        {
            _advancing = false;
        }
    }

    async Task AggregateAsync()
    {
        var job = R.BeginAggregation();
        await _writer.WriteAsync();
        AggregationOutcome outcome;
        try
        {
            outcome = await GrainFactory.GetGrain<IAggregationWorkerGrain>(0).AggregateAsync(job);
        }
        catch (Exception e)
        {
            bool failed = false;
            Finishing(round => failed = round.AggregationThrew(e.Message, DateTime.UtcNow));
            if (!failed) throw; // the watchdog tries again
            await _writer.WriteAsync();
            return;
        }
        Finishing(round => round.Complete(outcome, DateTime.UtcNow));
        await _writer.WriteAsync();
        _logger.LogInformation("Round {Federation}/{Round} {Status} after aggregating {Count} update(s) in {Duration}: {Global}",
            job.FederationId, job.Round, _state.State.Status, job.Updates.Length, outcome.Duration, _state.State.Global);
    }

    /// <summary>Runs a transition and counts the round in the metrics if it finished the round.</summary>
    void Finishing(Action<Round> transition)
    {
        var round = R;
        bool before = round.Finished;
        transition(round);
        if (!before && round.Finished)
            _metrics.RoundFinished(_state.State.Status == RoundStatus.Closed ? "closed" : "failed", _state.State.ClosedAt!.Value - _state.State.OpenedAt);
    }

    /// <summary>Counts each submitted update toward its client's reputation, then tells the federation (both idempotent).</summary>
    async Task ReportAsync()
    {
        var view = R.View();
        await Task.WhenAll(view.Outcomes
            .GroupBy(o => GrainKeys.RosterShardOf(o.ClientId))
            .Select(g => GrainFactory.GetGrain<IRosterGrain>(GrainKeys.Roster(view.FederationId, g.Key))
                .RecordOutcomesAsync(view.Round, g.Select(o => new Participation(o.ClientId, o.Accepted && o.Coefficient > 0)).ToArray())));
        await GrainFactory.GetGrain<IFederationGrain>(view.FederationId).RoundFinishedAsync(view);
        R.Reported();
        await _writer.WriteAsync();
    }
}
