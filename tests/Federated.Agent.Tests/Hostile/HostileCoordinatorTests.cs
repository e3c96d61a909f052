using System.Globalization;
using System.Security.Cryptography;
using Federated.Agent.Remote;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace Federated.Agent.Tests.Hostile;

/// <summary>Shared by the hostile tests: the tiny base model and a text slice for the agents.</summary>
public sealed class HostileFiles : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("fed-agent-hostile-").FullName;
    public string Model { get; }
    public string Data { get; }

    public HostileFiles()
    {
        Model = TestFiles.TinyModel(Path.Combine(Directory, "base"));
        Data = TestFiles.TextSlice(Path.Combine(Directory, "data.txt"), "GPL-3", 0, 2000);
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

/// <summary>
/// A real <c>fed-agent</c> against <see cref="MaliciousCoordinator"/>: references that are paths, more bytes than
/// declared, adapters that do not fit the local model or expand on read, absurd task fields. The agent refuses each
/// with one line, touches nothing outside its state directory, stays bounded in memory and keeps running.
/// </summary>
public sealed class HostileCoordinatorTests(HostileFiles files, ITestOutputHelper output) : IClassFixture<HostileFiles>, IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Step = TimeSpan.FromSeconds(60);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-hostile-run-").FullName;
    MaliciousCoordinator _coordinator = null!;

    string StateDirectory => Path.Combine(_dir, "a", "b", "state");

    public async Task InitializeAsync() => _coordinator = await MaliciousCoordinator.StartAsync();

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    AgentProcess StartAgent() => AgentProcess.Start(_dir,
    [
        "--coordinator", _coordinator.Address.ToString(), "--federation", MaliciousCoordinator.Federation, "--token", "any",
        "--state", StateDirectory, "--model", files.Model, "--data", files.Data, "--max-seq-len", "32",
        "--Agent:PollInterval=00:00:01", "--Agent:MaxRetryDelay=00:00:02", "--Agent:HeartbeatInterval=00:00:10",
    ]);

    /// <summary>A task the agent would train: the tiny model's q_proj and v_proj at rank 2, one step.</summary>
    static TrainingTask Task(int round) => new()
    {
        FederationId = MaliciousCoordinator.Federation, Round = round, BaseModel = HostilePayloads.BaseModel, TargetModules = { "q_proj", "v_proj" },
        Rank = 2, LoraAlpha = 4, Training = new TrainingPlan { LocalSteps = 1, BatchSize = 2, LearningRate = 0.01 }, Seed = 1, Strategy = "flora",
    };

    static TrainingTask WithHistory(int round, AdapterRef adapter)
    {
        var task = Task(round);
        task.GlobalAdapters.Add(new RoundAdapter { Round = round - 1, Adapter = adapter });
        return task;
    }

    static GetTaskResponse Answer(TrainingTask task) => new() { Task = task };

    [Fact]
    public async Task References_that_are_paths_are_refused_and_nothing_outside_the_state_directory_is_created_appended_or_deleted()
    {
        // What the unchecked agent wrote to: <state>/adapters/../../x.safetensors.partial, and a rooted path taken as is.
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        string relativeSentinel = Path.Combine(_dir, "a", "b", "x.safetensors.partial");
        string absolute = Path.Combine(outside, "abs");
        Directory.CreateDirectory(Path.GetDirectoryName(relativeSentinel)!);
        File.WriteAllText(relativeSentinel, "sentinel");
        File.WriteAllText(absolute + ".safetensors.partial", "sentinel");
        var payload = RandomNumberGenerator.GetBytes(5000);
        foreach (var sha in new[] { "../../x", absolute })
            _coordinator.Serve[sha] = (_, stream, _) => stream.WriteAsync(new AdapterChunk { Offset = 0, Data = ByteString.CopyFrom(payload) });
        var before = FilesOutsideState();

        _coordinator.Tasks.Enqueue(Answer(WithHistory(1, new AdapterRef { Sha256 = "../../x", Size = 5000 })));
        var init = Task(2);
        init.InitAdapter = new AdapterRef { Sha256 = absolute, Size = 5000 };
        _coordinator.Tasks.Enqueue(Answer(init));
        using var agent = StartAgent();

        string relative = await agent.WaitForLineAsync("task for round 1 is refused", Startup);
        Assert.Contains("global_adapters[0]: sha256 '../../x' is not a SHA-256 (64 lowercase hex digits)", relative);
        string rooted = await agent.WaitForLineAsync("task for round 2 is refused", Step);
        Assert.Contains($"init_adapter: sha256 '{absolute[..Math.Min(absolute.Length, 64)]}", rooted);
        await agent.WaitForLineAsync("Waiting: nothing for you", Step);

        Assert.Equal(0, _coordinator.DownloadCalls);
        Assert.Equal("sentinel", File.ReadAllText(relativeSentinel));
        Assert.Equal("sentinel", File.ReadAllText(absolute + ".safetensors.partial"));
        Assert.Equal(before, FilesOutsideState());
        Assert.False(agent.HasExited, agent.Output);
    }

    [Fact]
    public async Task More_bytes_than_declared_stop_the_download_at_the_declared_size_and_the_adapter_is_given_up_after_three_tries()
    {
        var declared = RandomNumberGenerator.GetBytes(1000);
        var adapter = HostilePayloads.RefOf(declared);
        long served = 0;
        // The declared 1,000 bytes, then 300 MiB more in 1 MiB chunks.
        _coordinator.Serve[adapter.Sha256] = async (_, stream, context) =>
        {
            await stream.WriteAsync(new AdapterChunk { Offset = 0, Data = ByteString.CopyFrom(declared), TotalSize = 1000 });
            var junk = ByteString.CopyFrom(new byte[1 << 20]);
            for (long offset = 1000; offset < 1000 + (300L << 20) && !context.CancellationToken.IsCancellationRequested; offset += junk.Length)
            {
                await stream.WriteAsync(new AdapterChunk { Offset = offset, Data = junk, TotalSize = 1000 });
                Interlocked.Add(ref served, junk.Length);
            }
        };
        _coordinator.Repeat = WithHistory(1, adapter);
        using var agent = StartAgent();
        using var watching = new CancellationTokenSource();
        var largest = WatchLargestFileAsync(Path.Combine(StateDirectory, "adapters"), watching.Token);

        string givenUp = await agent.WaitForLineAsync("given up after 3 bad downloads", Startup);
        Assert.Contains("the coordinator sent more than the declared 1,000 bytes (a 1,048,576-byte chunk at byte 1,000); stopped at byte 1,000", givenUp);
        // The agent keeps asking for tasks, but never downloads that adapter again.
        int polls = _coordinator.GetTaskCalls;
        await System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(5));
        watching.Cancel();

        output.WriteLine($"download attempts {_coordinator.DownloadCalls}, largest file {await largest:N0} bytes, junk bytes the server got out {Interlocked.Read(ref served):N0}");
        Assert.Equal(3, _coordinator.DownloadCalls);
        Assert.True(_coordinator.GetTaskCalls > polls, "the agent goes on polling for the next task");
        Assert.InRange(await largest, 0, 1000);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(StateDirectory, "adapters")));
        Assert.Equal(2, agent.Lines.Count(l => l.Contains("discarded, downloading again", StringComparison.Ordinal)));
        Assert.False(agent.HasExited, agent.Output);
    }

    [Fact]
    public async Task Adapters_that_do_not_fit_the_local_model_or_are_compressed_are_refused_before_their_tensors_are_allocated()
    {
        var wrong = HostilePayloads.WrongShapes();
        var bomb = HostilePayloads.CompressedBomb();
        Assert.InRange(bomb.Length, 1, 2048);
        _coordinator.ServeBytes(wrong);
        _coordinator.ServeBytes(bomb);
        using var agent = StartAgent();
        await agent.WaitForLineAsync("Waiting: nothing for you", Startup);
        var (peakBefore, _) = Memory(agent.Id);

        _coordinator.Tasks.Enqueue(Answer(WithHistory(1, HostilePayloads.RefOf(wrong))));
        string misfit = await agent.WaitForLineAsync("Round not completed: round 1:", Step);
        _coordinator.Tasks.Enqueue(Answer(WithHistory(2, HostilePayloads.RefOf(bomb))));
        string compressed = await agent.WaitForLineAsync("Round not completed: round 2:", Step);
        await System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(2));
        var (peakAfter, rss) = Memory(agent.Id);

        output.WriteLine($"agent memory: VmHWM {peakBefore >> 20} -> {peakAfter >> 20} MiB (+{(peakAfter - peakBefore) >> 10} KiB), VmRSS {rss >> 20} MiB");
        Assert.Contains("history delta 0", misfit);
        Assert.Contains("does not fit the local model: module 'model.layers.0.self_attn.q_proj' is 96x48; the base model's layer is 64x64", misfit);
        Assert.Contains("is a compressed (topk) payload", compressed);
        Assert.True(peakAfter - peakBefore < 100L << 20,
            $"the agent's peak memory grew by {(peakAfter - peakBefore) >> 20} MiB (VmHWM {peakBefore >> 20} -> {peakAfter >> 20} MiB, VmRSS {rss >> 20} MiB)");
        Assert.Equal(2, _coordinator.DownloadCalls);
        Assert.False(agent.HasExited, agent.Output);
    }

    [Fact]
    public async Task Absurd_task_fields_are_refused_with_one_line_each_and_the_agent_keeps_running()
    {
        var sha = new string('a', 64);
        var rank = Task(1);
        rank.Rank = 1_000_000_000;
        var history = Task(2);
        history.GlobalAdapters.Add(Enumerable.Range(0, 12_000).Select(i => new RoundAdapter { Round = i, Adapter = new AdapterRef { Sha256 = sha, Size = 1000 } }));
        var baseModel = Task(3);
        baseModel.BaseModel = new string('m', 300_000) + "\nforged log line";
        var learningRate = Task(4);
        learningRate.Training.LearningRate = double.NaN;
        var steps = Task(5);
        steps.Training.LocalSteps = int.MaxValue;
        var module = Task(6);
        module.TargetModules.Add("../../etc/passwd");
        var size = WithHistory(7, new AdapterRef { Sha256 = sha, Size = 1L << 40 });
        // A million history entries: about 70 MB, over gRPC's message limit, refused by the channel before it is parsed.
        var million = Task(8);
        var one = new RoundAdapter { Round = 1, Adapter = new AdapterRef { Sha256 = sha, Size = 1000 } };
        million.GlobalAdapters.Add(Enumerable.Repeat(one, 1_000_000));
        foreach (var task in new[] { rank, history, baseModel, learningRate, steps, module, size, million })
            _coordinator.Tasks.Enqueue(Answer(task));
        using var agent = StartAgent();

        Assert.Contains("rank 1,000,000,000 is outside 1..64", await agent.WaitForLineAsync("task for round 1 is refused", Startup));
        Assert.Contains("global_adapters lists 12,000 history deltas, over the 10,000 allowed", await agent.WaitForLineAsync("task for round 2 is refused", Step));
        Assert.Contains("base_model is 300,016 characters long, over the 256 allowed", await agent.WaitForLineAsync("task for round 3 is refused", Step));
        Assert.Contains("training.learning_rate NaN is not a finite number", await agent.WaitForLineAsync("task for round 4 is refused", Step));
        Assert.Contains("training.local_steps 2,147,483,647 is outside 1..1,000,000", await agent.WaitForLineAsync("task for round 5 is refused", Step));
        Assert.Contains("target module '../../etc/passwd' is not a layer of the local model", await agent.WaitForLineAsync("task for round 6 is refused", Step));
        Assert.Contains("declares 1,099,511,627,776 bytes; an adapter is 1 to 4,294,967,296 bytes", await agent.WaitForLineAsync("task for round 7 is refused", Step));
        Assert.Contains("ResourceExhausted", await agent.WaitForLineAsync("Round not completed: ResourceExhausted", Step));
        await agent.WaitForLineAsync("Waiting: nothing for you", Step);

        Assert.DoesNotContain(agent.Lines, l => l.StartsWith("forged log line", StringComparison.Ordinal));
        Assert.Equal(0, _coordinator.DownloadCalls);
        Assert.DoesNotContain(agent.Lines, l => l.Contains("step 1/", StringComparison.Ordinal));
        Assert.False(agent.HasExited, agent.Output);
    }

    /// <summary>Every file under the run directory but the agent's state directory, with its size and content hash.</summary>
    SortedDictionary<string, string> FilesOutsideState()
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories))
            if (!Path.GetFullPath(file).StartsWith(StateDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                files[file] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        return files;
    }

    /// <summary>The largest size any file in <paramref name="directory"/> reached while watched (sampled every few milliseconds).</summary>
    static async Task<long> WatchLargestFileAsync(string directory, CancellationToken stop)
    {
        long largest = 0;
        while (!stop.IsCancellationRequested)
        {
            if (Directory.Exists(directory))
                foreach (var file in new DirectoryInfo(directory).EnumerateFiles())
                {
                    try { largest = Math.Max(largest, file.Length); }
                    catch (FileNotFoundException) { }
                }
            await System.Threading.Tasks.Task.Delay(2, CancellationToken.None);
        }
        return largest;
    }

    /// <summary>Peak (VmHWM) and current (VmRSS) resident memory of a process, in bytes.</summary>
    static (long Peak, long Resident) Memory(int pid)
    {
        var status = File.ReadAllLines($"/proc/{pid}/status");
        long Field(string name) => long.Parse(status.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return (Field("VmHWM"), Field("VmRSS"));
    }
}
