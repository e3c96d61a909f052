using Federated.Contracts;
using Federated.Grains.Clients;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Federated.Grains.Tests.Clients;

/// <summary>What a client is told to do and may download, without Orleans (the grain only reads its federation and round).</summary>
public sealed class ClientStepsTests
{
    static readonly DateTime T0 = new(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);

    static StoredUpdate Adapter(char digit) => new(new string(digit, 64), 100);

    static FederationView Federation(FederationStatus status, int currentRound = 1, int completedRounds = 0, StoredUpdate? global = null,
        RoundRecord[]? history = null, string? failureReason = null, FederationModel? model = null, StoredUpdate? finalModel = null, string id = "fed") =>
        new(id, FederationDriver.Config(), status, currentRound, completedRounds, global, history ?? [], failureReason, T0, model, finalModel);

    static Assignment Assignment(RoundStatus status = RoundStatus.Open, bool submitted = false) =>
        new("fed", 3, "tiny-llama", ["q_proj"], 8, 16, TrainingPlan.Default, T0.AddMinutes(5), status, submitted,
            [new RoundDelta(1, Adapter('1')), new RoundDelta(2, Adapter('2'))], Adapter('9'));

    static RoundRecord Closed(int round, StoredUpdate global) => new(round, RoundStatus.Closed, global, 2, 2, 0, T0, T0.AddMinutes(1), null);

    [Fact]
    public void A_federation_not_started_says_wait_briefly()
    {
        var step = Assert.IsType<WaitStep>(ClientSteps.OfFederation(Federation(FederationStatus.Created)));
        Assert.Equal(TimeSpan.FromSeconds(2), step.RetryAfter);
        Assert.Equal("federation 'fed' has not started", step.Reason);
    }

    [Fact]
    public void A_stopped_federation_says_done_with_its_final_adapter_and_model()
    {
        var (global, final) = (Adapter('a'), Adapter('f'));
        var completed = Assert.IsType<DoneStep>(ClientSteps.OfFederation(Federation(FederationStatus.Completed, 4, 3, global, finalModel: final)));
        Assert.Equal(new DoneStep(FederationStatus.Completed, "federation 'fed' completed 3 rounds", global, final), completed);

        var failed = Assert.IsType<DoneStep>(ClientSteps.OfFederation(Federation(FederationStatus.Failed, 4, 1, global, failureReason: "3 rounds failed in a row")));
        Assert.Equal(new DoneStep(FederationStatus.Failed, "federation 'fed' failed: 3 rounds failed in a row", global, null), failed);
    }

    [Fact]
    public void A_running_federation_leaves_it_to_the_round() =>
        Assert.Null(ClientSteps.OfFederation(Federation(FederationStatus.Running)));

    [Fact]
    public void Not_selected_in_an_opened_round_waits_ten_seconds_and_a_round_not_opened_yet_two()
    {
        Assert.Equal(new WaitStep(TimeSpan.FromSeconds(10), "not selected for round 3"), ClientSteps.InRound(3, null, roundOpened: true));
        Assert.Equal(new WaitStep(TimeSpan.FromSeconds(2), "round 3 is opening"), ClientSteps.InRound(3, null, roundOpened: false));
    }

    [Fact]
    public void An_open_round_hands_out_the_assignment_with_its_history_and_init()
    {
        var assignment = Assignment();
        var step = Assert.IsType<TrainStep>(ClientSteps.InRound(3, assignment, roundOpened: true));
        Assert.Same(assignment, step.Assignment);
        Assert.Equal([1, 2], step.Assignment.History!.Select(d => d.Round));
        Assert.Equal(Adapter('9'), step.Assignment.Init);
    }

    [Fact]
    public void A_closing_round_says_wait_unless_the_client_submitted_then_its_task_says_so()
    {
        Assert.Equal(new WaitStep(TimeSpan.FromSeconds(2), "round 3 is aggregating"), ClientSteps.InRound(3, Assignment(RoundStatus.Aggregating), true));
        Assert.Equal(new WaitStep(TimeSpan.FromSeconds(2), "round 3 is closed"), ClientSteps.InRound(3, Assignment(RoundStatus.Closed), true));
        Assert.True(Assert.IsType<TrainStep>(ClientSteps.InRound(3, Assignment(RoundStatus.Aggregating, submitted: true), true)).Assignment.Submitted);
    }

    [Fact]
    public void May_download_every_kind_of_reference_of_its_own_federation_and_nothing_else()
    {
        var model = new FederationModel([new RoundDelta(1, Adapter('1'))], Adapter('2'), [new RankedAdapter(8, Adapter('3'))]);
        var federation = Federation(FederationStatus.Completed, 3, 2, Adapter('b'), [Closed(1, Adapter('a')), Closed(2, Adapter('b'))],
            model: model, finalModel: Adapter('f'));

        foreach (var digit in "ab123f") // history's and current global, the model's delta, live adapter and init, the final model
            Assert.Equal(new DownloadPermission(true), ClientSteps.MayDownload(federation, Adapter(digit)));

        var other = Adapter('e'); // e.g. another federation's global adapter
        Assert.Equal(new DownloadPermission(false, $"no adapter {other} in federation 'fed'"), ClientSteps.MayDownload(federation, other));
        Assert.False(ClientSteps.MayDownload(federation, Adapter('a') with { Size = 101 }).Allowed); // the size is part of the reference
    }

    [Fact]
    public void Every_step_crosses_the_wire_as_its_own_kind()
    {
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer<ClientStep>>();
        ClientStep[] steps = [new WaitStep(TimeSpan.FromSeconds(10), "not selected"), new DoneStep(FederationStatus.Failed, "failed", Adapter('a'), null), new TrainStep(Assignment())];
        foreach (var step in steps)
        {
            var copy = serializer.Deserialize(serializer.SerializeToArray(step))!;
            Assert.Equal(step.GetType(), copy.GetType());
            if (step is not TrainStep) Assert.Equal(step, copy); // an assignment's arrays compare by reference
        }
        Assert.Equal(Adapter('9'), Assert.IsType<TrainStep>(serializer.Deserialize(serializer.SerializeToArray(steps[2]))).Assignment.Init);
    }
}
