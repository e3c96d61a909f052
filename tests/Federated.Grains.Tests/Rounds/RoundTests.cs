using Federated.Contracts;
using Federated.Grains.Rounds;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Federated.Grains.Tests.Rounds;

/// <summary>Every transition of a round's rules, without Orleans: the grain only adds time, timers and persistence.</summary>
public sealed class RoundTests
{
    static readonly DateTime T0 = new(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);
    static readonly TimeSpan Deadline = TimeSpan.FromMinutes(5);
    static readonly Candidate[] Three = [new("a", 4), new("b", 8), new("c", 16)];

    static RoundSpec Spec(int quorum = 2) =>
        new("fed", 1, FederationDriver.Config(clientsPerRound: 3, quorum: quorum, deadline: Deadline));

    static Submission Update(char digit, int rank = 4, long examples = 10) => new(new StoredUpdate(new string(digit, 64), 100), examples, rank);

    static Round Opened(int quorum = 2)
    {
        var round = new Round(new RoundState(), "fed/1");
        Assert.True(round.Open(Spec(quorum), Three, eligible: 5, T0));
        return round;
    }

    static AggregationOutcome Closed(params string[] clients) =>
        new(new StoredUpdate(new string('f', 64), 500), clients.Select(c => new ClientOutcomeView(c, true, 0.5, 0.5, 1.0, null)).ToArray(), TimeSpan.FromSeconds(2), null, FederationModel.Empty);

    [Fact]
    public void Opening_selects_the_clients_and_sets_the_deadline()
    {
        var round = Opened();

        Assert.Equal(RoundStatus.Open, round.State.Status);
        Assert.Equal(T0 + Deadline, round.State.Deadline);
        Assert.Equal(["a", "b", "c"], round.View().Selected);
        Assert.Equal(RoundDue.Submissions, round.Due(T0));
        Assert.Equal(8, round.AssignmentFor("b")!.Rank);
        Assert.Null(round.AssignmentFor("z"));
    }

    [Fact]
    public void Opening_with_fewer_selectable_clients_than_the_quorum_fails_and_counts_as_reported()
    {
        var round = new Round(new RoundState(), "fed/1");

        Assert.False(round.Open(Spec(quorum: 4), Three, eligible: 3, T0));
        Assert.Equal(RoundStatus.Failed, round.State.Status);
        Assert.Contains("only 3 eligible client(s)", round.State.FailureReason);
        Assert.Contains("the quorum is 4", round.State.FailureReason);
        Assert.Equal(RoundDue.Nothing, round.Due(T0)); // the federation reads the failure from the returned view
        Assert.Throws<InvalidOperationException>(() => round.Open(Spec(), Three, 5, T0));
    }

    [Fact]
    public void A_round_not_yet_opened_refuses_submissions_and_has_nothing_due()
    {
        var round = new Round(new RoundState(), "fed/1");

        Assert.Equal(SubmissionStatus.RoundClosed, round.Refusal("a", Update('1'))!.Status);
        Assert.Equal(RoundDue.Nothing, round.Due(T0));
        Assert.Equal(FederationError.NotFound, Assert.Throws<FederationException>(round.View).Error);
    }

    [Theory]
    [InlineData("z", '1', 4, 10, SubmissionStatus.NotSelected)]
    [InlineData("a", '1', 8, 10, SubmissionStatus.RankTooHigh)]
    [InlineData("a", '1', 4, 0, SubmissionStatus.InvalidSubmission)]
    [InlineData("a", '1', 0, 10, SubmissionStatus.InvalidSubmission)]
    public void A_submission_the_round_cannot_take_is_refused_with_its_reason(string client, char digit, int rank, long examples, SubmissionStatus expected)
    {
        var round = Opened();

        Assert.Equal(expected, round.Refusal(client, Update(digit, rank, examples))!.Status);
        Assert.Throws<InvalidOperationException>(() => round.Accept(client, Update(digit, rank, examples), T0));
        Assert.Empty(round.State.Submissions);
    }

    [Fact]
    public void A_lower_rank_than_assigned_is_taken()
    {
        var round = Opened();

        Assert.Null(round.Refusal("c", Update('1', rank: 2)));
        Assert.False(round.Accept("c", Update('1', rank: 2), T0));
        Assert.Equal(2, round.State.Submissions["c"].Rank);
    }

    [Fact]
    public void The_same_update_again_is_a_duplicate_and_another_one_a_conflict()
    {
        var round = Opened();
        round.Accept("a", Update('1'), T0);

        Assert.Equal(SubmissionStatus.Duplicate, round.Refusal("a", Update('1'))!.Status);
        Assert.True(round.Refusal("a", Update('1'))!.IsAccepted); // a retry after a lost acknowledgement succeeds
        Assert.Equal(SubmissionStatus.Conflict, round.Refusal("a", Update('2'))!.Status);
        Assert.Single(round.State.Submissions);
    }

    [Fact]
    public void A_submission_whose_write_failed_is_withdrawn_and_can_be_sent_again()
    {
        var round = Opened();
        round.Accept("a", Update('1'), T0);

        round.Withdraw("a", Update('2')); // another update: not this one's to withdraw
        Assert.Single(round.State.Submissions);
        round.Withdraw("a", Update('1'));
        Assert.Empty(round.State.Submissions);
        Assert.Null(round.Refusal("a", Update('1')));
    }

    [Fact]
    public void The_last_selected_client_makes_the_round_due_to_close_before_its_deadline()
    {
        var round = Opened();

        Assert.False(round.Accept("a", Update('1'), T0));
        Assert.False(round.Accept("b", Update('2'), T0));
        Assert.True(round.Accept("c", Update('3'), T0));
        Assert.Equal(RoundDue.Close, round.Due(T0 + TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void At_the_deadline_a_quorum_goes_to_aggregation()
    {
        var round = Opened(quorum: 2);
        round.Accept("b", Update('2'), T0);
        round.Accept("a", Update('1'), T0);

        Assert.Equal(RoundDue.Submissions, round.Due(T0 + Deadline - TimeSpan.FromTicks(1)));
        Assert.Throws<InvalidOperationException>(() => round.Close(T0));
        Assert.Equal(RoundDue.Close, round.Due(T0 + Deadline));
        round.Close(T0 + Deadline);

        Assert.Equal(RoundStatus.Aggregating, round.State.Status);
        Assert.Equal(RoundDue.Aggregation, round.Due(T0 + Deadline));
    }

    [Fact]
    public void At_the_deadline_without_a_quorum_the_round_fails_and_is_due_to_report()
    {
        var round = Opened(quorum: 2);
        round.Accept("a", Update('1'), T0);

        round.Close(T0 + Deadline);

        Assert.Equal(RoundStatus.Failed, round.State.Status);
        Assert.Equal("1 of 3 selected clients submitted by the deadline; the quorum is 2", round.State.FailureReason);
        Assert.Equal(T0 + Deadline, round.State.ClosedAt);
        Assert.Equal(RoundDue.Report, round.Due(T0 + Deadline));
    }

    [Fact]
    public void A_late_submission_is_refused_but_a_retry_of_an_accepted_one_is_still_a_duplicate()
    {
        var round = Opened(quorum: 1);
        round.Accept("a", Update('1'), T0);
        round.Close(T0 + Deadline);

        Assert.Equal(SubmissionStatus.RoundClosed, round.Refusal("b", Update('2'))!.Status);
        Assert.Contains("is closed (aggregating)", round.Refusal("b", Update('2'))!.Reason);
        Assert.Equal(SubmissionStatus.Duplicate, round.Refusal("a", Update('1'))!.Status);
        Assert.Equal(SubmissionStatus.RoundClosed, round.Refusal("a", Update('3'))!.Status);
    }

    [Fact]
    public void Closing_early_moves_the_deadline_to_now_once()
    {
        var round = Opened();
        var now = T0 + TimeSpan.FromMinutes(1);

        Assert.True(round.CloseEarly(now));
        Assert.Equal(now, round.State.Deadline);
        Assert.False(round.CloseEarly(now));
        Assert.Equal(RoundDue.Close, round.Due(now));
    }

    [Fact]
    public void Aggregation_takes_the_submissions_in_client_order_and_closes_with_the_global()
    {
        var round = Opened();
        round.Accept("c", Update('3', rank: 16, examples: 30), T0);
        round.Accept("a", Update('1', rank: 4, examples: 10), T0);
        round.Close(T0 + Deadline);

        var job = round.BeginAggregation();

        Assert.Equal(1, round.State.AggregationAttempts);
        Assert.Equal(["a", "c"], job.Updates.Select(u => u.ClientId));
        Assert.Equal([4, 16], job.Updates.Select(u => u.AllowedRank)); // the assigned rank, which the admission check holds the update to
        Assert.Equal([10L, 30L], job.Updates.Select(u => u.ExampleCount));
        round.Complete(Closed("a", "c"), T0 + Deadline + TimeSpan.FromSeconds(3));
        Assert.Equal(RoundStatus.Closed, round.State.Status);
        Assert.Equal(new string('f', 64), round.State.Global!.Sha256);
        Assert.Equal(TimeSpan.FromSeconds(2), round.View().AggregationTime);
        Assert.Equal(RoundDue.Report, round.Due(T0 + Deadline));
        round.Reported();
        Assert.Equal(RoundDue.Nothing, round.Due(T0 + Deadline));
    }

    [Fact]
    public void An_aggregation_that_returns_no_global_fails_the_round_with_its_reason()
    {
        var round = Opened(quorum: 1);
        round.Accept("a", Update('1'), T0);
        round.Close(T0 + Deadline);
        round.BeginAggregation();

        round.Complete(new AggregationOutcome(null, [new ClientOutcomeView("a", false, 0, 0, null, "not aggregated: krum needs n >= 5")], TimeSpan.Zero, "krum needs n >= 5"), T0 + Deadline);

        Assert.Equal(RoundStatus.Failed, round.State.Status);
        Assert.Equal("krum needs n >= 5", round.State.FailureReason);
        Assert.Single(round.View().Outcomes);
        Assert.Equal(RoundDue.Report, round.Due(T0 + Deadline));
    }

    [Fact]
    public void An_aggregation_that_throws_is_retried_and_fails_the_round_after_the_last_attempt()
    {
        var round = Opened(quorum: 1);
        round.Accept("a", Update('1'), T0);
        round.Close(T0 + Deadline);

        for (int attempt = 1; attempt < Round.MaxAggregationAttempts; attempt++)
        {
            round.BeginAggregation();
            Assert.False(round.AggregationThrew("worker lost", T0 + Deadline));
            Assert.Equal(RoundDue.Aggregation, round.Due(T0 + Deadline));
        }
        round.BeginAggregation();
        Assert.True(round.AggregationThrew("worker lost", T0 + Deadline));

        Assert.Equal(RoundStatus.Failed, round.State.Status);
        Assert.Equal($"aggregation failed {Round.MaxAggregationAttempts} times; last error: worker lost", round.State.FailureReason);
    }

    [Fact]
    public void Reporting_is_only_for_a_finished_round()
    {
        var round = Opened();

        Assert.Throws<InvalidOperationException>(round.Reported);
        Assert.Throws<InvalidOperationException>(() => round.BeginAggregation());
        Assert.Throws<InvalidOperationException>(() => round.Complete(Closed("a"), T0));
    }

    [Fact]
    public void Only_selected_clients_report_metrics_and_a_later_report_replaces_an_earlier_one()
    {
        var round = Opened();

        Assert.Equal(MetricsReportStatus.NotSelected, round.MetricsRefusal("z")!.Status);
        Assert.Null(round.MetricsRefusal("a"));
        round.RecordMetrics("a", new() { ["eval_loss"] = 3.0 });
        round.RecordMetrics("a", new() { ["eval_loss"] = 2.0, ["train_loss"] = 2.5 });

        var kept = Assert.Single(round.View().ClientMetrics!);
        Assert.Equal(new Dictionary<string, double> { ["eval_loss"] = 2.0, ["train_loss"] = 2.5 }, kept.Metrics);
        Assert.Throws<ArgumentException>(() => round.RecordMetrics("b", Enumerable.Range(0, ClientMetrics.MaxMetrics + 1).ToDictionary(i => $"m{i}", i => 1.0)));
        Assert.Equal(MetricsReportStatus.NotSelected, new Round(new RoundState(), "fed/1").MetricsRefusal("a")!.Status);
    }

    [Fact]
    public void The_rounds_metrics_are_means_weighted_by_the_submissions_counted_examples_without_NaN()
    {
        var round = Opened();
        round.Accept("a", Update('1', examples: 100), T0);
        round.Accept("b", Update('2', rank: 8, examples: 300), T0);
        round.RecordMetrics("a", new() { ["eval_loss"] = 2.0, ["train_loss"] = double.NaN });
        round.RecordMetrics("b", new() { ["eval_loss"] = 1.0, ["train_loss"] = 1.5 });
        round.RecordMetrics("c", new() { ["eval_loss"] = 9.0 }); // reported without an accepted submission: no weight

        var metrics = round.View().Metrics!;

        Assert.Equal(["eval_loss", "train_loss"], metrics.Select(m => m.Name));
        Assert.Equal((100 * 2.0 + 300 * 1.0) / 400, metrics[0].Value, 12);
        Assert.Equal(2, metrics[0].Clients);
        Assert.Equal(1.5, metrics[1].Value, 12);
        Assert.Equal(1, metrics[1].Clients);
    }

    [Fact]
    public void A_round_exports_at_most_the_bounded_number_of_metric_names_keeping_those_most_clients_reported()
    {
        var common = new Dictionary<string, double> { ["eval_loss"] = 1.0 };
        var invented = Enumerable.Range(0, 3 * ClientMetrics.MaxMetrics).ToDictionary(i => $"x{i:D3}", i => 1.0);

        var metrics = ClientMetrics.Aggregate([(common, 1.0), (common, 1.0), (invented, 1.0)]);

        Assert.Equal(ClientMetrics.MaxMetrics, metrics.Length);
        Assert.Contains(metrics, m => m.Name == "eval_loss" && m.Clients == 2);
    }

    /// <summary>Each status a crash can leave in storage, and what a reactivated round (a fresh object over it) does next.</summary>
    public static TheoryData<string, RoundDue> PersistedStatuses() => new()
    {
        { "open, before the deadline", RoundDue.Submissions },
        { "open, after the deadline", RoundDue.Close },
        { "open, everyone submitted", RoundDue.Close },
        { "aggregating", RoundDue.Aggregation },
        { "aggregating, an attempt persisted", RoundDue.Aggregation },
        { "closed, not reported", RoundDue.Report },
        { "failed, not reported", RoundDue.Report },
        { "closed, reported", RoundDue.Nothing },
    };

    [Theory]
    [MemberData(nameof(PersistedStatuses))]
    public void A_round_recovers_from_each_persisted_status(string persisted, RoundDue expected)
    {
        var round = Opened(quorum: 2);
        var now = T0 + TimeSpan.FromMinutes(1);
        round.Accept("a", Update('1'), T0);
        round.Accept("b", Update('2'), T0);
        switch (persisted)
        {
            case "open, after the deadline": now = T0 + Deadline; break;
            case "open, everyone submitted": round.Accept("c", Update('3'), T0); break;
            case "aggregating": round.Close(T0 + Deadline); break;
            case "aggregating, an attempt persisted": round.Close(T0 + Deadline); round.BeginAggregation(); break;
            case "closed, not reported" or "closed, reported":
                round.Close(T0 + Deadline);
                round.BeginAggregation();
                round.Complete(Closed("a", "b"), T0 + Deadline);
                if (persisted == "closed, reported") round.Reported();
                break;
            case "failed, not reported": round.Close(T0 + Deadline); round.BeginAggregation(); round.Complete(new(null, [], TimeSpan.Zero, "no"), T0 + Deadline); break;
        }

        var reactivated = new Round(Persisted(round.State), "fed/1");

        Assert.Equal(expected, reactivated.Due(now));
        Assert.Equal(round.View().Status, reactivated.View().Status);
        Assert.Equal(round.State.AggregationAttempts, reactivated.State.AggregationAttempts);
        Assert.Equal(SubmissionStatus.Duplicate, reactivated.Refusal("a", Update('1'))!.Status);
    }

    /// <summary>The state as storage gives it back: a copy through the grain state's own serializer.</summary>
    static RoundState Persisted(RoundState state)
    {
        var serializer = Services.GetRequiredService<Serializer<RoundState>>();
        return serializer.Deserialize(serializer.SerializeToArray(state))!;
    }

    static readonly IServiceProvider Services = new ServiceCollection().AddSerializer().BuildServiceProvider();
}
