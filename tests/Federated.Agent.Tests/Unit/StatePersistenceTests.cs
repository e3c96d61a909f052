using Federated.Agent.State;
using Federated.IO;

namespace Federated.Agent.Tests.Unit;

public sealed class StatePersistenceTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-state-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Identity_and_progress_round_trip_through_a_new_store()
    {
        var identity = new ClientIdentity("http://127.0.0.1:5081/", "fed", "c-1", "c-1.secret", 8, DateTimeOffset.UnixEpoch);
        var progress = new RoundProgress("fed", 3, RoundPhase.Uploading, "/x/u.safetensors", "cd", 1234, "r3-cd", 57, 4,
            new Dictionary<string, double> { ["train_loss"] = 1.5 }, MetricsReported: false);
        var store = new AgentStateStore(_dir);
        store.SaveIdentity(identity);
        store.SaveProgress(progress);

        var reopened = new AgentStateStore(_dir);
        Assert.Equal(identity, reopened.LoadIdentity());
        var loaded = reopened.LoadProgress()!;
        Assert.Equal(progress with { Metrics = null }, loaded with { Metrics = null });
        Assert.Equal(1.5, loaded.Metrics!["train_loss"]);
        Assert.True(AgentStateStore.HasIdentity(_dir));
    }

    [Fact]
    public void Progress_an_older_agent_wrote_before_training_still_reads_and_trains_the_round()
    {
        File.WriteAllText(Path.Combine(_dir, "round.json"), """{ "federationId": "fed", "round": 2, "phase": "downloaded", "globalSha256": "ab" }""");

        var progress = new AgentStateStore(_dir).LoadProgress()!;

        Assert.Equal(RoundPhase.Downloaded, progress.Phase);
        Assert.Equal(Federated.Agent.Rounds.RoundAction.Train, Federated.Agent.Rounds.ResumePlanner.Decide("fed", 2, submitted: false, progress, updateFileIntact: false));
    }

    [Fact]
    public void The_credential_file_is_readable_by_its_owner_only()
    {
        if (OperatingSystem.IsWindows()) return;
        new AgentStateStore(_dir).SaveIdentity(new ClientIdentity("u", "f", "c", "c.s", 4, DateTimeOffset.UnixEpoch));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "client.json")));
    }

    [Fact]
    public void An_empty_directory_has_no_identity_or_progress()
    {
        var store = new AgentStateStore(_dir);
        Assert.Null(store.LoadIdentity());
        Assert.Null(store.LoadProgress());
        Assert.False(AgentStateStore.HasIdentity(_dir));
    }

    [Fact]
    public void A_write_replaces_the_file_whole_and_leaves_no_temporary_file()
    {
        var store = new AgentStateStore(_dir);
        store.SaveProgress(new RoundProgress("fed", 1, RoundPhase.Trained));
        store.SaveProgress(new RoundProgress("fed", 2, RoundPhase.Uploaded));
        Assert.Equal(2, store.LoadProgress()!.Round);
        Assert.Equal(["round.json"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Agent_state_writes_flush_the_directory_after_the_rename()
    {
        var store = new AgentStateStore(_dir);
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
        {
            store.SaveIdentity(new ClientIdentity("u", "f", "c", "c.s", 4, DateTimeOffset.UnixEpoch));
            store.SaveProgress(new RoundProgress("fed", 1, RoundPhase.Trained));
        }

        Assert.Equal(6, calls.Calls.Count);
        foreach (string name in new[] { "client.json", "round.json" })
            calls.AssertReplacedDurably(Path.Combine(_dir, name));
        Assert.Equal(["client.json", "round.json"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Theory]
    [InlineData(SystemCallKind.FlushFile)]
    [InlineData(SystemCallKind.Rename)]
    public void A_state_write_that_fails_leaves_the_old_content_and_no_temporary_file(SystemCallKind failing)
    {
        var store = new AgentStateStore(_dir);
        var saved = new RoundProgress("fed", 1, RoundPhase.Trained);
        store.SaveProgress(saved);

        using (FileSystemSync.Use(new RecordingSystemCalls { Fail = c => c.Kind == failing }))
            Assert.Throws<IOException>(() => store.SaveProgress(new RoundProgress("fed", 2, RoundPhase.Uploaded)));

        Assert.Equal(saved, store.LoadProgress());
        Assert.Equal(["round.json"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void A_torn_temporary_file_from_a_crash_mid_write_does_not_affect_what_is_read()
    {
        var store = new AgentStateStore(_dir);
        var saved = new RoundProgress("fed", 4, RoundPhase.Trained, UpdateSha256: "ee", UpdateSize: 9);
        store.SaveProgress(saved);
        // What a crash between write and rename leaves: half a JSON document beside the real file.
        File.WriteAllText(Path.Combine(_dir, "round.json.4242.tmp"), "{\"federationId\": \"fed\", \"rou");

        Assert.Equal(saved, new AgentStateStore(_dir).LoadProgress());
    }

    [Fact]
    public void A_corrupted_state_file_is_one_readable_error_naming_it()
    {
        File.WriteAllText(Path.Combine(_dir, "round.json"), "{ not json");
        var e = Assert.Throws<AgentStateException>(() => new AgentStateStore(_dir).LoadProgress());
        Assert.Contains("round.json", e.Message);
        Assert.Contains("move it away", e.Message);
    }

    [Fact]
    public void Old_update_files_are_removed_when_a_new_round_is_trained()
    {
        var store = new AgentStateStore(_dir);
        string old = store.UpdatePath("fed/1", 1), current = store.UpdatePath("fed/1", 2);
        Directory.CreateDirectory(Path.GetDirectoryName(old)!);
        File.WriteAllBytes(old, [1, 2, 3]);
        File.WriteAllBytes(current, [4, 5]);
        store.DeleteUpdatesExcept(current);
        Assert.False(File.Exists(old));
        Assert.True(File.Exists(current));
        Assert.DoesNotContain("/1-", Path.GetFileName(current)); // the federation id is made a safe file name
    }
}
