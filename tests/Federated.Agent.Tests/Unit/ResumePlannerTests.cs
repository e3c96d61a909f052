using Federated.Agent.Rounds;
using Federated.Agent.State;

namespace Federated.Agent.Tests.Unit;

public sealed class ResumePlannerTests
{
    static readonly Dictionary<string, double> Metrics = new() { ["train_loss"] = 1 };

    static RoundProgress At(RoundPhase phase, int round = 2, Dictionary<string, double>? metrics = null, bool reported = false) =>
        new("fed", round, phase, UpdatePath: "/u", UpdateSha256: "ab", UpdateSize: 10, Metrics: metrics, MetricsReported: reported);

    [Fact]
    public void A_fresh_agent_or_a_new_round_trains()
    {
        Assert.Equal(RoundAction.Train, ResumePlanner.Decide("fed", 2, false, null, false));
        Assert.Equal(RoundAction.Train, ResumePlanner.Decide("fed", 3, false, At(RoundPhase.Uploaded), true));
        Assert.Equal(RoundAction.Train, ResumePlanner.Decide("other", 2, false, At(RoundPhase.Trained), true));
    }

    [Theory]
    [InlineData(RoundPhase.Trained)]
    [InlineData(RoundPhase.Uploading)]
    public void A_round_whose_update_was_produced_is_uploaded_not_retrained(RoundPhase phase) =>
        Assert.Equal(RoundAction.Upload, ResumePlanner.Decide("fed", 2, false, At(phase), updateFileIntact: true));

    [Fact]
    public void A_lost_or_truncated_update_file_means_training_again()
    {
        Assert.Equal(RoundAction.Train, ResumePlanner.Decide("fed", 2, false, At(RoundPhase.Uploading), updateFileIntact: false));
        Assert.Equal(RoundAction.Train, ResumePlanner.Decide("fed", 2, false, At(RoundPhase.Downloaded), updateFileIntact: false));
    }

    [Fact]
    public void What_the_coordinator_already_has_is_not_sent_again_but_unreported_metrics_are_reported()
    {
        Assert.Equal(RoundAction.Nothing, ResumePlanner.Decide("fed", 2, true, null, false));
        Assert.Equal(RoundAction.Nothing, ResumePlanner.Decide("fed", 2, true, At(RoundPhase.Uploading), true));
        Assert.Equal(RoundAction.ReportMetrics, ResumePlanner.Decide("fed", 2, true, At(RoundPhase.Uploaded, metrics: Metrics), true));
        Assert.Equal(RoundAction.Nothing, ResumePlanner.Decide("fed", 2, true, At(RoundPhase.Uploaded, metrics: Metrics, reported: true), true));
    }

    [Fact]
    public void An_update_the_coordinator_lost_is_uploaded_again()
    {
        Assert.Equal(RoundAction.Upload, ResumePlanner.Decide("fed", 2, false, At(RoundPhase.Uploaded), updateFileIntact: true));
    }

    [Fact]
    public void The_update_file_counts_as_intact_only_with_its_recorded_size()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[10]);
            Assert.True(ResumePlanner.UpdateFileIntact(At(RoundPhase.Trained) with { UpdatePath = path }));
            File.WriteAllBytes(path, new byte[7]);
            Assert.False(ResumePlanner.UpdateFileIntact(At(RoundPhase.Trained) with { UpdatePath = path }));
            File.Delete(path);
            Assert.False(ResumePlanner.UpdateFileIntact(At(RoundPhase.Trained) with { UpdatePath = path }));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
