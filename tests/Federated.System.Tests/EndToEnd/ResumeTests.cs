using Federated.Agent.Hosting;
using Federated.Agent.Remote;
using Federated.Agent.State;
using Federated.SystemTests.Processes;
using Federated.Agent.Trust;
using Federated.IO;
using Federated.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// Restarts against the real coordinator (embedded mode, as a process): an agent killed mid-upload resumes at the
/// acknowledged offset without re-enrolling or retraining, and a partial download continues where it stopped.
/// </summary>
public sealed class ResumeTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Run = TimeSpan.FromMinutes(3);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-resume-").FullName;
    EmbeddedCoordinator _coordinator = null!;

    public async Task InitializeAsync() => _coordinator = await EmbeddedCoordinator.StartAsync(_dir);

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task An_agent_killed_mid_upload_resumes_after_the_acknowledged_bytes_without_enrolling_or_training_again()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 4000);
        const string federation = "resume-upload";
        // Every projection at rank 8: an update of ~75 KB, sent in 1 KiB chunks at 16 KiB/s, so the kill lands mid-stream.
        await _coordinator.Admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama", targetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
            rankPolicy = new { cpuRank = 8, tiers = Array.Empty<object>() }, training = new { localSteps = 3, batchSize = 4, learningRate = 0.01 },
            rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "10m",
        });
        string[] args = _coordinator.AgentArgs(federation, model, data, "--Agent:UploadChunkBytes=1024", "--Agent:UploadBytesPerSecond=16384");

        var state = new AgentStateStore(Path.Combine(_dir, "state"));
        ClientIdentity identity;
        RoundProgress interrupted;
        using (var first = AgentProcess.Start(_dir, args))
        {
            await _coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);
            await first.WaitForLineAsync("sent through byte", Run);
            await Task.Delay(1500);
            first.Kill();
            Assert.DoesNotContain(first.Lines, l => l.Contains("update ACCEPTED", StringComparison.Ordinal));
            identity = state.LoadIdentity()!;
            interrupted = state.LoadProgress()!;
        }
        Assert.Equal(RoundPhase.Uploading, interrupted.Phase);

        // What the coordinator durably holds of the upload, asked with the agent's own credential: it stages what arrived
        // once it notices the broken stream, which may be a moment after the kill.
        long acknowledged;
        using (var connection = new CoordinatorConnection(_coordinator.Grpc, null))
        {
            connection.UseCredential(identity.Credential);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while ((acknowledged = (await connection.Client.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = interrupted.UploadId }, connection.Options(default))).AcknowledgedOffset) == 0
                   && DateTime.UtcNow < deadline)
                await Task.Delay(100);
        }
        Assert.InRange(acknowledged, 1, interrupted.UpdateSize - 1);

        using var second = AgentProcess.Start(_dir, args.Where(a => !a.StartsWith("--Agent:UploadBytesPerSecond", StringComparison.Ordinal)).ToArray());
        Assert.True(await second.WaitForExitAsync(Run) == 0, second.Output);
        var lines = second.Lines;
        Assert.Contains(lines, l => l.Contains($"Client {identity.ClientId} of federation {federation}", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("Enrolled", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("training rank", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"as {interrupted.UploadId} from byte {acknowledged:N0}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(
            $"update ACCEPTED; sent {interrupted.UpdateSize - acknowledged:N0} of {interrupted.UpdateSize:N0} bytes (resumed at byte {acknowledged:N0})", StringComparison.Ordinal));
        Assert.Equal(identity, state.LoadIdentity());

        var round = await _coordinator.Admin.GetAsync($"/api/federations/{federation}/rounds/1");
        Assert.True(round["outcomes"]!.AsArray().Single()!["accepted"]!.GetValue<bool>(), round.ToJsonString());
        Assert.Equal("Completed", (await _coordinator.Admin.GetAsync($"/api/federations/{federation}"))["status"]!.GetValue<string>());
    }

    /// <summary>
    /// Killed (SIGKILL) a tenth into its local training, an agent restarted on the same state directory continues from
    /// the training checkpoint, and uploads byte for byte the update of an agent that was never interrupted (training is
    /// deterministic on the CPU, and the update's SHA-256 covers its bytes).
    /// </summary>
    [Fact]
    public async Task An_agent_killed_mid_training_continues_from_its_checkpoint_and_uploads_the_uninterrupted_update()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 4000);
        object Federation() => new
        {
            baseModel = "tiny-llama", rankPolicy = new { cpuRank = 4, tiers = Array.Empty<object>() },
            training = new { localSteps = 400, batchSize = 4, learningRate = 0.01 }, rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "10m",
        };
        static string UpdateSha(IEnumerable<string> lines) =>
            lines.Select(l => System.Text.RegularExpressions.Regex.Match(l, "trained; .* update ([0-9a-f]{64})")).Single(m => m.Success).Groups[1].Value;

        await _coordinator.Admin.CreateFederationAsync("checkpoint-reference", Federation());
        string uninterrupted;
        using (var reference = AgentProcess.Start(_dir, _coordinator.AgentArgs("checkpoint-reference", model, data,
            "--Agent:StateDirectory=" + Path.Combine(_dir, "reference-state"))))
        {
            await _coordinator.Admin.StartWhenEnrolledAsync("checkpoint-reference", Startup);
            Assert.True(await reference.WaitForExitAsync(Run) == 0, reference.Output);
            uninterrupted = UpdateSha(reference.Lines);
        }

        const string federation = "checkpoint";
        await _coordinator.Admin.CreateFederationAsync(federation, Federation());
        string[] args = _coordinator.AgentArgs(federation, model, data, "--Agent:CheckpointInterval=00:00:00");
        using (var first = AgentProcess.Start(_dir, args))
        {
            await _coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);
            await first.WaitForLineAsync("step 40/400", Run);
            first.Kill();
            Assert.DoesNotContain(first.Lines, l => l.Contains("trained;", StringComparison.Ordinal));
        }

        using var second = AgentProcess.Start(_dir, args);
        Assert.True(await second.WaitForExitAsync(Run) == 0, second.Output);
        var resumedAt = second.Lines.Select(l => System.Text.RegularExpressions.Regex.Match(l, "continued local training from its checkpoint at step ([0-9]+) of 400"))
            .Single(m => m.Success).Groups[1].Value;
        Assert.InRange(int.Parse(resumedAt, System.Globalization.CultureInfo.InvariantCulture), 40, 399);
        Assert.Equal(uninterrupted, UpdateSha(second.Lines));
        Assert.Contains(second.Lines, l => l.Contains("update ACCEPTED", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(_dir, "state", "training")), "the checkpoint is deleted once the update is saved");
    }

    [Fact]
    public async Task SIGTERM_during_training_stops_between_steps_and_exits_zero()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-2", 0, 3000);
        const string federation = "sigterm";
        await _coordinator.Admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama", rankPolicy = new { cpuRank = 4, tiers = Array.Empty<object>() },
            training = new { localSteps = 1_000_000, batchSize = 4, learningRate = 0.01 }, rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "10m",
        });
        using var agent = AgentProcess.Start(_dir, _coordinator.AgentArgs(federation, model, data));
        await _coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);
        await agent.WaitForLineAsync("step ", Run);
        agent.Terminate();
        Assert.True(await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)) == 0, agent.Output);
        Assert.Contains(agent.Lines, l => l.Contains("Stopping: progress is saved", StringComparison.Ordinal));
        Assert.NotNull(new AgentStateStore(Path.Combine(_dir, "state")).LoadIdentity());
    }

    [Fact]
    public async Task A_partial_download_continues_at_its_length_and_a_corrupt_one_is_fetched_again()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "base"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "Apache-2.0", 0, 3000);
        const string federation = "resume-download";
        await _coordinator.Admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama", rankPolicy = new { cpuRank = 4, tiers = Array.Empty<object>() },
            training = new { localSteps = 2, batchSize = 4, learningRate = 0.01 }, rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "10m",
        });
        using (var agent = AgentProcess.Start(_dir, _coordinator.AgentArgs(federation, model, data)))
        {
            await _coordinator.Admin.StartWhenEnrolledAsync(federation, Startup);
            Assert.True(await agent.WaitForExitAsync(Run) == 0, agent.Output);
        }
        var global = await _coordinator.Admin.GlobalAdapterAsync(federation, 1);
        var reference = AdapterReference.From(new AdapterRef { Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(global)), Size = global.Length },
            "global", AgentOptions.DefaultMaxAdapterBytes);
        var identity = new AgentStateStore(Path.Combine(_dir, "state")).LoadIdentity()!;

        using var connection = new CoordinatorConnection(_coordinator.Grpc, null);
        connection.UseCredential(identity.Credential);
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
        var retry = new RetryPolicy(backoff, NullLogger<RetryPolicy>.Instance);

        // Half of it already on disk, as a broken stream leaves it.
        var resumed = new AgentStateStore(Path.Combine(_dir, "download-1"));
        Directory.CreateDirectory(Path.GetDirectoryName(resumed.PartialAdapterPath(reference.Sha256))!);
        File.WriteAllBytes(resumed.PartialAdapterPath(reference.Sha256), global[..(global.Length / 2)]);
        var log = new ListLogger<AdapterDownloader>();
        var calls = new RecordingSystemCalls();
        string path;
        using (FileSystemSync.Use(calls))
            path = await new AdapterDownloader(connection, resumed, retry, backoff, log).DownloadAsync(reference, default);
        Assert.Equal(global, File.ReadAllBytes(path));
        calls.AssertReplacedDurably(path); // the verified .partial file, flushed, renamed into place, its directory flushed
        Assert.False(File.Exists(resumed.PartialAdapterPath(reference.Sha256)));
        Assert.Contains(log.Lines, l => l.Contains($"at byte {global.Length / 2:N0} of {global.Length:N0}", StringComparison.Ordinal));

        // A partial file whose bytes are wrong: the hash check catches it and the adapter is downloaded again whole.
        var corrupt = new AgentStateStore(Path.Combine(_dir, "download-2"));
        Directory.CreateDirectory(Path.GetDirectoryName(corrupt.PartialAdapterPath(reference.Sha256))!);
        File.WriteAllBytes(corrupt.PartialAdapterPath(reference.Sha256), new byte[global.Length / 3]);
        var log2 = new ListLogger<AdapterDownloader>();
        path = await new AdapterDownloader(connection, corrupt, retry, backoff, log2).DownloadAsync(reference, default);
        Assert.Equal(global, File.ReadAllBytes(path));
        Assert.Contains(log2.Lines, l => l.Contains("do not match its SHA-256; discarded, downloading again", StringComparison.Ordinal));

        // A partial file longer than the adapter (not one this agent wrote): truncated and downloaded again, once, not forever.
        var longer = new AgentStateStore(Path.Combine(_dir, "download-3"));
        Directory.CreateDirectory(Path.GetDirectoryName(longer.PartialAdapterPath(reference.Sha256))!);
        File.WriteAllBytes(longer.PartialAdapterPath(reference.Sha256), new byte[global.Length + 100]);
        var download = new AdapterDownloader(connection, longer, retry, backoff, NullLogger<AdapterDownloader>.Instance).DownloadAsync(reference, default);
        Assert.Same(download, await System.Threading.Tasks.Task.WhenAny(download, System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Equal(global, File.ReadAllBytes(await download));
    }
}
