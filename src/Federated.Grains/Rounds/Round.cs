using Federated.Contracts;
using Federated.Core.Federation;

namespace Federated.Grains.Rounds;

/// <summary>What a round has left to do, read from its persisted status (on activation, after a timer or a call).</summary>
public enum RoundDue
{
    /// <summary>Open and waiting for submissions until the deadline.</summary>
    Submissions,
    /// <summary>Open, and the deadline has passed or every selected client submitted: close it.</summary>
    Close,
    /// <summary>Closed to submissions with a quorum: aggregate.</summary>
    Aggregation,
    /// <summary>Closed or failed, and the federation has not been told yet.</summary>
    Report,
    /// <summary>Nothing: finished and reported (or never opened).</summary>
    Nothing,
}

/// <summary>
/// One round's rules as a plain object over its persisted <see cref="RoundState"/>: opening, who may submit what,
/// closing at the deadline against the quorum, aggregation attempts and their outcome, and what is due after a
/// restart. No clock, timer, storage or grain call: <see cref="RoundGrain"/> supplies the time, persists the state
/// after each transition and does the I/O the round asks for.
/// </summary>
public sealed class Round(RoundState state, string key)
{
    /// <summary>Aggregation attempts that may throw (a worker lost, a store unreachable) before the round fails.</summary>
    public const int MaxAggregationAttempts = 3;

    public RoundState State => state;

    public bool IsOpened => state.Spec is not null;

    public bool Finished => state.Status is RoundStatus.Closed or RoundStatus.Failed;

    RoundSpec Spec => state.Spec ?? throw new FederationException(FederationError.NotFound, $"round {key} has not been opened");

    /// <summary>
    /// Opens the round for the <paramref name="selected"/> clients, or fails it at once when fewer than the quorum could be
    /// selected (the federation learns that from the returned view, so it counts as reported).
    /// </summary>
    /// <returns>Whether the round is open.</returns>
    public bool Open(RoundSpec spec, IReadOnlyList<Candidate> selected, int eligible, DateTime now)
    {
        if (state.Spec is not null) throw new InvalidOperationException($"round {key} is already open");
        var config = spec.Config;
        state.Spec = spec;
        state.OpenedAt = now;
        state.Deadline = now + config.RoundDeadline;
        state.Selected = selected.ToDictionary(c => c.ClientId, c => c.Rank, StringComparer.Ordinal);
        if (selected.Count < config.Quorum)
        {
            Fail($"only {eligible} eligible client(s) (registered, seen within {config.ClientTimeout}, reputation >= {config.MinReputation}); the quorum is {config.Quorum}", now);
            state.FederationNotified = true;
            return false;
        }
        state.Status = RoundStatus.Open;
        return true;
    }

    /// <summary>The refusal of <paramref name="submission"/> from <paramref name="clientId"/>, or null when the round takes it.</summary>
    public SubmissionReceipt? Refusal(string clientId, Submission submission)
    {
        if (state.Spec is not { } spec)
            return new(SubmissionStatus.RoundClosed, $"round {key} has not been opened");
        string round = $"round {spec.Round} of federation '{spec.FederationId}'";
        if (!StoredUpdate.IsWellFormed(submission.Update) || submission.ExampleCount < 1 || submission.Rank < 1)
            return new(SubmissionStatus.InvalidSubmission, "a submission needs a stored update (64 hex digits of SHA-256, positive size), an example count >= 1 and a rank >= 1");
        if (state.Submissions.TryGetValue(clientId, out var previous))
        {
            if (previous.Update == submission.Update) return new(SubmissionStatus.Duplicate, $"update {submission.Update} was already accepted in {round}");
            if (state.Status != RoundStatus.Open) return new(SubmissionStatus.RoundClosed, $"{round} is {Describe(state.Status)}");
            return new(SubmissionStatus.Conflict, $"client '{clientId}' already submitted {previous.Update} in {round}; one update per client and round");
        }
        if (state.Status != RoundStatus.Open) return new(SubmissionStatus.RoundClosed, $"{round} is {Describe(state.Status)}");
        if (!state.Selected.TryGetValue(clientId, out int assigned)) return new(SubmissionStatus.NotSelected, $"client '{clientId}' was not selected for {round}");
        if (submission.Rank > assigned) return new(SubmissionStatus.RankTooHigh, $"rank {submission.Rank} exceeds the rank {assigned} assigned to client '{clientId}' in {round}");
        return null;
    }

    /// <summary>Records a submission that <see cref="Refusal"/> let through.</summary>
    /// <returns>Whether every selected client has now submitted (the round need not wait for its deadline).</returns>
    public bool Accept(string clientId, Submission submission, DateTime now)
    {
        if (Refusal(clientId, submission) is { } refused) throw new InvalidOperationException($"refused submission accepted: {refused.Reason}");
        state.Submissions[clientId] = new AcceptedSubmission(submission.Update, submission.ExampleCount, submission.Rank, now);
        return state.Submissions.Count == state.Selected.Count;
    }

    /// <summary>Takes back an accepted submission whose write failed (not durable, so not accepted: the client retries).</summary>
    public void Withdraw(string clientId, Submission submission)
    {
        if (state.Status == RoundStatus.Open && state.Submissions.TryGetValue(clientId, out var s) && s.Update == submission.Update)
            state.Submissions.Remove(clientId);
    }

    /// <summary>Null when <paramref name="clientId"/> may report metrics for this round (it was selected), else the refusal.</summary>
    public MetricsReceipt? MetricsRefusal(string clientId) =>
        state.Spec is not { } spec ? new(MetricsReportStatus.NotSelected, $"round {key} has not been opened")
        : state.Selected.ContainsKey(clientId) ? null
        : new(MetricsReportStatus.NotSelected, $"client '{clientId}' was not selected for round {spec.Round} of federation '{spec.FederationId}'");

    /// <summary>Keeps a selected client's report (bounded by <see cref="ClientMetrics"/>); a later one replaces it.</summary>
    public void RecordMetrics(string clientId, Dictionary<string, double> metrics)
    {
        if (MetricsRefusal(clientId) is { } refused) throw new InvalidOperationException(refused.Reason);
        if (ClientMetrics.Problem(metrics) is { } problem) throw new ArgumentException(problem, nameof(metrics));
        state.ClientMetrics[clientId] = new Dictionary<string, double>(metrics, StringComparer.Ordinal);
    }

    /// <summary>The clients' metrics over the round, each client weighted by the examples its accepted submission counted for.</summary>
    public RoundMetric[] Metrics()
    {
        var aggregation = Spec.Config.Aggregation;
        return ClientMetrics.Aggregate(state.ClientMetrics.Select(c => ((IReadOnlyDictionary<string, double>)c.Value,
            state.Submissions.TryGetValue(c.Key, out var s) ? (double)aggregation.CountedExamples(s.ExampleCount) : 0)));
    }

    /// <summary>An operator closes the round now: the deadline moves to <paramref name="now"/>.</summary>
    /// <returns>Whether anything changed.</returns>
    public bool CloseEarly(DateTime now)
    {
        _ = Spec;
        if (state.Status != RoundStatus.Open || now >= state.Deadline) return false;
        state.Deadline = now;
        return true;
    }

    /// <summary>What is due at <paramref name="now"/>.</summary>
    public RoundDue Due(DateTime now) => state switch
    {
        { Spec: null } => RoundDue.Nothing,
        { Status: RoundStatus.Open } when now < state.Deadline && state.Submissions.Count < state.Selected.Count => RoundDue.Submissions,
        { Status: RoundStatus.Open } => RoundDue.Close,
        { Status: RoundStatus.Aggregating } => RoundDue.Aggregation,
        { FederationNotified: false } => RoundDue.Report,
        _ => RoundDue.Nothing,
    };

    /// <summary>Closes the round to submissions: aggregating with a quorum, failed without.</summary>
    public void Close(DateTime now)
    {
        if (Due(now) != RoundDue.Close) throw new InvalidOperationException($"round {key} is not due to close ({Due(now)})");
        if (state.Submissions.Count >= Spec.Config.Quorum) state.Status = RoundStatus.Aggregating;
        else Fail($"{state.Submissions.Count} of {state.Selected.Count} selected clients submitted by the deadline; the quorum is {Spec.Config.Quorum}", now);
    }

    /// <summary>Counts an attempt (persist it before running the job) and returns what to aggregate.</summary>
    public AggregationJob BeginAggregation()
    {
        if (state.Status != RoundStatus.Aggregating) throw new InvalidOperationException($"round {key} is {state.Status}, not aggregating");
        var spec = Spec;
        var config = spec.Config;
        var model = spec.Model ?? FederationModel.Empty;
        state.AggregationAttempts++;
        return new AggregationJob(spec.FederationId, spec.Round, config.BaseModel, config.Aggregation,
            state.Submissions.OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => new JobUpdate(p.Key, p.Value.Update, config.Aggregation.CountedExamples(p.Value.ExampleCount), state.Selected[p.Key], model.InitFor(state.Selected[p.Key])))
                .ToArray(),
            config.TargetModules, ModelJob.For(spec.FederationId, config, model));
    }

    /// <summary>An attempt threw: the round stays aggregating for the next attempt, or fails after the last one.</summary>
    /// <returns>Whether the round failed.</returns>
    public bool AggregationThrew(string error, DateTime now)
    {
        if (state.AggregationAttempts < MaxAggregationAttempts) return false;
        Complete(new AggregationOutcome(null, [], TimeSpan.Zero, $"aggregation failed {state.AggregationAttempts} times; last error: {error}"), now);
        return true;
    }

    /// <summary>The aggregation's answer: closed with the new global and model, or failed with its reason.</summary>
    public void Complete(AggregationOutcome outcome, DateTime now)
    {
        if (state.Status != RoundStatus.Aggregating) throw new InvalidOperationException($"round {key} is {state.Status}, not aggregating");
        state.Outcomes = outcome.Clients;
        state.AggregationTime = outcome.Duration;
        if (outcome.Global is { } global)
        {
            state.Global = global;
            state.Model = outcome.Model;
            state.CompactionError = outcome.CompactionError;
            state.FactoringError = outcome.FactoringError;
            state.Status = RoundStatus.Closed;
            state.ClosedAt = now;
        }
        else Fail(outcome.Failure ?? "aggregation produced no global adapter", now);
    }

    /// <summary>The federation has been told the round finished.</summary>
    public void Reported()
    {
        if (!Finished) throw new InvalidOperationException($"round {key} is {state.Status}: nothing to report");
        state.FederationNotified = true;
    }

    /// <summary>What a selected client needs to train for this round; null for anyone else.</summary>
    public Assignment? AssignmentFor(string clientId)
    {
        if (state.Spec is not { } spec || !state.Selected.TryGetValue(clientId, out int rank)) return null;
        var c = spec.Config;
        var model = spec.Model ?? FederationModel.Empty;
        var strategy = FederatedStrategies.Get(c.Aggregation.Strategy);
        return new Assignment(spec.FederationId, spec.Round, c.BaseModel, c.TargetModules, rank,
            c.RankPolicy.AlphaFor(rank), c.Training, state.Deadline, state.Status, state.Submissions.ContainsKey(clientId),
            model.History, model.InitFor(rank), strategy.FreezesA, BranchSeed(c.Seed, spec.Round), strategy.Name, c.Architecture);
    }

    public RoundView View()
    {
        var spec = Spec;
        return new RoundView(spec.FederationId, spec.Round, state.Status, state.Selected.Keys.Order(StringComparer.Ordinal).ToArray(), state.Submissions.Count,
            spec.Config.Quorum, state.OpenedAt, state.Deadline, state.ClosedAt, state.Global, state.Outcomes, state.FailureReason, state.AggregationTime,
            state.Model, state.CompactionError,
            state.ClientMetrics.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new ClientMetricsView(c.Key, c.Value)).ToArray(), Metrics(),
            state.FactoringError);
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

    void Fail(string reason, DateTime now)
    {
        state.Status = RoundStatus.Failed;
        state.FailureReason = reason;
        state.ClosedAt = now;
    }

    static string Describe(RoundStatus status) => status switch
    {
        RoundStatus.Aggregating => "closed (aggregating)",
        _ => status.ToString().ToLowerInvariant(),
    };
}
