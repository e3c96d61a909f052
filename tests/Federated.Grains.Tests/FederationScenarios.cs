using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Grains.Tests;

/// <summary>The round logic, run once on the embedded default and once in cluster mode with a real redis-server.</summary>
public abstract class FederationScenarios(CoordinatorCluster coordinator)
{
    readonly FederationDriver _driver = new(coordinator);

    [Fact]
    public async Task Three_rounds_of_mixed_rank_updates_give_the_global_adapters_Federated_Core_computes()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 3, clientsPerRound: 4, quorum: 2), clients: 6);
        await _driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();

        for (int round = 1; round <= 3; round++)
        {
            var view = await _driver.WaitForRoundAsync(fed, round, v => v.Status == RoundStatus.Open);
            Assert.Equal(4, view.Selected.Length);
            var updates = new List<ClientUpdate>();
            try
            {
                foreach (var client in view.Selected)
                {
                    var assignment = (await _driver.Round(fed, round).GetAssignmentAsync(client))!;
                    var (adapter, submission) = await _driver.UploadAsync(assignment, client, examples: 10 + client.Length + round);
                    updates.Add(new ClientUpdate(client, adapter, submission.ExampleCount, assignment.Rank));
                    Assert.Equal(SubmissionStatus.Accepted, (await _driver.Round(fed, round).SubmitAsync(client, submission)).Status);
                }
                Assert.True(updates.Select(u => u.Adapter.Modules[0].Rank).Distinct().Count() > 1, "the selected clients should train at mixed ranks");

                var closed = await _driver.WaitForRoundAsync(fed, round, FederationDriver.IsFinished);
                Assert.Equal(RoundStatus.Closed, closed.Status);
                using var expected = new Aggregator(new FloraStacking()).Aggregate(updates.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList());
                using var global = await _driver.ReadGlobalAsync(closed.Global!);
                AssertSameFactors(expected.Global, global);
                Assert.All(closed.Outcomes, o => Assert.True(o.Accepted));
            }
            finally
            {
                foreach (var u in updates) u.Adapter.Dispose();
            }
        }

        var federation = await _driver.WaitForFederationAsync(fed, v => v.Status != FederationStatus.Running);
        Assert.Equal(FederationStatus.Completed, federation.Status);
        Assert.Equal(3, federation.CompletedRounds);
        Assert.Equal([1, 2, 3], federation.History.Select(h => h.Round));
        Assert.Equal(federation.History[^1].GlobalAdapter, federation.GlobalAdapter);
    }

    [Fact]
    public async Task Round_closes_at_the_deadline_with_a_quorum_when_some_clients_never_submit()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 4, quorum: 2, deadline: TimeSpan.FromSeconds(5)), clients: 4);
        await _driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var view = await _driver.Round(fed, 1).GetAsync();

        foreach (var client in view.Selected.Take(2))
        {
            var (adapter, submission) = await _driver.UploadAsync((await _driver.Round(fed, 1).GetAssignmentAsync(client))!, client);
            adapter.Dispose();
            Assert.True((await _driver.Round(fed, 1).SubmitAsync(client, submission)).IsAccepted);
        }

        var closed = await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);
        Assert.Equal(RoundStatus.Closed, closed.Status);
        Assert.True(closed.ClosedAt >= closed.Deadline, "closed before its deadline although clients were missing");
        Assert.Equal(view.Selected.Take(2).Order(StringComparer.Ordinal), closed.Outcomes.Select(o => o.ClientId));
        Assert.NotNull(closed.Global);
    }

    [Fact]
    public async Task Round_below_quorum_fails_cleanly_at_the_deadline_and_the_next_round_opens()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 2, clientsPerRound: 4, quorum: 3, deadline: TimeSpan.FromSeconds(5)), clients: 4);
        await _driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var client = (await _driver.Round(fed, 1).GetAsync()).Selected[0];
        var (adapter, submission) = await _driver.UploadAsync((await _driver.Round(fed, 1).GetAssignmentAsync(client))!, client);
        adapter.Dispose();
        await _driver.Round(fed, 1).SubmitAsync(client, submission);

        var failed = await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);

        Assert.Equal(RoundStatus.Failed, failed.Status);
        Assert.Contains("1 of 4 selected clients submitted", failed.FailureReason);
        Assert.Contains("quorum is 3", failed.FailureReason);
        Assert.Null(failed.Global);
        var federation = await WaitForFederationAsync(fed, f => f.CurrentRound == 2);
        Assert.Equal(FederationStatus.Running, federation.Status);
        Assert.Equal(RoundStatus.Failed, federation.History.Single().Status);
        Assert.Null(federation.GlobalAdapter);
        Assert.Equal(RoundStatus.Open, (await _driver.WaitForRoundAsync(fed, 2, v => v.Status == RoundStatus.Open)).Status);
    }

    [Fact]
    public async Task Closing_a_round_early_aggregates_what_arrived_when_it_has_a_quorum()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 4, quorum: 2), clients: 4);
        await _driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var view = await _driver.Round(fed, 1).GetAsync();
        foreach (var client in view.Selected.Take(2))
        {
            var (adapter, submission) = await _driver.UploadAsync((await _driver.Round(fed, 1).GetAssignmentAsync(client))!, client);
            adapter.Dispose();
            await _driver.Round(fed, 1).SubmitAsync(client, submission);
        }

        await _driver.Round(fed, 1).CloseAsync();
        var closed = await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished, TimeSpan.FromSeconds(20));

        Assert.Equal(RoundStatus.Closed, closed.Status);
        Assert.True(closed.ClosedAt < view.Deadline, "closed only at the deadline");
        Assert.Equal(2, closed.Outcomes.Length);
    }

    [Fact]
    public async Task Duplicate_submission_is_idempotent_before_and_after_the_round_closes()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 1, clientsPerRound: 2, quorum: 1), clients: 2);
        await _driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var selected = (await _driver.Round(fed, 1).GetAsync()).Selected;
        var submissions = new List<(string, Submission)>();
        foreach (var client in selected)
        {
            var (adapter, submission) = await _driver.UploadAsync((await _driver.Round(fed, 1).GetAssignmentAsync(client))!, client);
            adapter.Dispose();
            submissions.Add((client, submission));
        }

        Assert.False((await _driver.Round(fed, 1).GetAssignmentAsync(selected[0]))!.Submitted);
        Assert.Equal(SubmissionStatus.Accepted, (await _driver.Round(fed, 1).SubmitAsync(selected[0], submissions[0].Item2)).Status);
        Assert.True((await _driver.Round(fed, 1).GetAssignmentAsync(selected[0]))!.Submitted);
        Assert.Equal(SubmissionStatus.Duplicate, (await _driver.Round(fed, 1).SubmitAsync(selected[0], submissions[0].Item2)).Status);
        Assert.Equal(1, (await _driver.Round(fed, 1).GetAsync()).Submitted);

        await _driver.Round(fed, 1).SubmitAsync(selected[1], submissions[1].Item2);
        var closed = await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);
        var replay = await _driver.Round(fed, 1).SubmitAsync(selected[0], submissions[0].Item2);

        Assert.Equal(SubmissionStatus.Duplicate, replay.Status);
        Assert.True(replay.IsAccepted);
        Assert.Equal(2, closed.Outcomes.Length);
        var after = await _driver.Round(fed, 1).GetAsync();
        Assert.Equal(2, after.Submitted);
        Assert.Equal(closed.Global, after.Global);
    }

    [Fact]
    public async Task Submissions_from_unselected_clients_to_closed_rounds_or_above_the_assigned_rank_are_refused_with_a_reason()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(rounds: 2, clientsPerRound: 2, quorum: 1), clients: 3);
        await _driver.Grains.GetGrain<IFederationGrain>(fed).StartAsync();
        var round = _driver.Round(fed, 1);
        var selected = (await round.GetAsync()).Selected;
        string outsider = Enumerable.Range(0, 3).Select(i => FederationDriver.ClientId(fed, i)).Except(selected).Single();
        var assignment = (await round.GetAssignmentAsync(selected[0]))!;
        var (adapter, submission) = await _driver.UploadAsync(assignment, selected[0]);
        adapter.Dispose();

        var notSelected = await round.SubmitAsync(outsider, submission);
        Assert.Equal(SubmissionStatus.NotSelected, notSelected.Status);
        Assert.Contains($"'{outsider}' was not selected for round 1", notSelected.Reason);
        Assert.Null(await round.GetAssignmentAsync(outsider));

        var tooHigh = await round.SubmitAsync(selected[0], submission with { Rank = assignment.Rank * 2 });
        Assert.Equal(SubmissionStatus.RankTooHigh, tooHigh.Status);
        Assert.Contains($"exceeds the rank {assignment.Rank}", tooHigh.Reason);

        var missing = await round.SubmitAsync(selected[0], submission with { Update = new StoredUpdate(new string('a', 64), 12) });
        Assert.Equal(SubmissionStatus.PayloadMissing, missing.Status);

        var malformed = await round.SubmitAsync(selected[0], submission with { ExampleCount = 0 });
        Assert.Equal(SubmissionStatus.InvalidSubmission, malformed.Status);
        Assert.Equal(0, (await round.GetAsync()).Submitted);

        Assert.Equal(SubmissionStatus.Accepted, (await round.SubmitAsync(selected[0], submission)).Status);
        var other = await _driver.UploadAsync(assignment with { Round = 99 }, selected[0]);
        other.Adapter.Dispose();
        var conflict = await round.SubmitAsync(selected[0], other.Submission);
        Assert.Equal(SubmissionStatus.Conflict, conflict.Status);

        var second = await _driver.UploadAsync((await round.GetAssignmentAsync(selected[1]))!, selected[1]);
        second.Adapter.Dispose();
        await round.SubmitAsync(selected[1], second.Submission);
        await _driver.WaitForRoundAsync(fed, 1, FederationDriver.IsFinished);
        var late = await round.SubmitAsync(selected[1], other.Submission);
        Assert.Equal(SubmissionStatus.RoundClosed, late.Status);
        Assert.Contains("round 1 of federation", late.Reason);
        Assert.Contains("closed", late.Reason);
    }

    async Task<FederationView> WaitForFederationAsync(string fed, Func<FederationView, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var view = await _driver.Grains.GetGrain<IFederationGrain>(fed).GetAsync();
            if (until(view) || DateTime.UtcNow > deadline) return view;
            await Task.Delay(50);
        }
    }

    internal static void AssertSameFactors(LoraAdapter expected, LoraAdapter actual)
    {
        Assert.Equal(expected.Modules.Select(m => m.Name), actual.Modules.Select(m => m.Name));
        foreach (var (e, a) in expected.Modules.Zip(actual.Modules))
        {
            Assert.Equal(e.Rank, a.Rank);
            Assert.Equal(e.Alpha, a.Alpha);
            Assert.True(e.A.eq(a.A).all().item<bool>() && e.B.eq(a.B).all().item<bool>(), $"module {e.Name} differs");
        }
    }
}

public sealed class EmbeddedFederationTests(EmbeddedCoordinator fixture)
    : FederationScenarios(fixture.Coordinator), IClassFixture<EmbeddedCoordinator>;

public sealed class RedisFederationTests(RedisCoordinator fixture)
    : FederationScenarios(fixture.Coordinator), IClassFixture<RedisCoordinator>;
