using Federated.IO;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Federated.Storage.Tests;

[GenerateSerializer, Alias("Federated.Storage.Tests.RoundProgress")]
public sealed class RoundProgress
{
    [Id(0)] public string Federation { get; set; } = "";
    [Id(1)] public int Round { get; set; }
    [Id(2)] public List<double> Losses { get; set; } = [];
}

[Alias("Federated.Storage.Tests.IProgressGrain")]
public interface IProgressGrain : IGrainWithStringKey
{
    [Alias("Save")] Task Save(RoundProgress progress);
    [Alias("Load")] Task<RoundProgress> Load();
    [Alias("Exists")] Task<bool> Exists();
}

public sealed class ProgressGrain([PersistentState("s", "fl")] IPersistentState<RoundProgress> state) : Grain, IProgressGrain
{
    public Task Save(RoundProgress progress)
    {
        state.State = progress;
        return state.WriteStateAsync();
    }

    public Task<RoundProgress> Load() => Task.FromResult(state.State);

    public Task<bool> Exists() => Task.FromResult(state.RecordExists);
}

public sealed class FileGrainStorageTests : IDisposable
{
    static readonly GrainId Grain = GrainId.Create("round", "fed/1");
    readonly TempDirectory _dir = new();
    readonly ServiceProvider _services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    public void Dispose()
    {
        _services.Dispose();
        _dir.Dispose();
    }

    FileGrainStorage NewStorage() => new(
        "fl",
        new FileGrainStorageOptions
        {
            RootDirectory = _dir.Path,
            GrainStorageSerializer = new OrleansGrainStorageSerializer(_services.GetRequiredService<Serializer>()),
        },
        _services.GetRequiredService<IActivatorProvider>());

    static RoundProgress Sample(int round) => new() { Federation = "fed/1", Round = round, Losses = [0.5, 0.25] };

    static void AssertEqual(RoundProgress? expected, RoundProgress? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected.Federation, actual.Federation);
        Assert.Equal(expected.Round, actual.Round);
        Assert.Equal(expected.Losses, actual.Losses);
    }

    [Fact]
    public async Task State_written_by_a_grain_survives_a_restart_of_the_whole_cluster()
    {
        var key = "fed/alpha:round 3";
        var written = Sample(3);

        await using (var first = await StartClusterAsync(_dir.Path))
        {
            await first.Client.GetGrain<IProgressGrain>(key).Save(written);
            await first.StopAllSilosAsync();
        }

        // Nothing but the state file carries the state over to the new cluster.
        Assert.Single(Directory.GetFiles(_dir.Path, "*.state"));

        await using var second = await StartClusterAsync(_dir.Path);
        var grain = second.Client.GetGrain<IProgressGrain>(key);
        Assert.True(await grain.Exists());
        AssertEqual(written, await grain.Load());
    }

    static async Task<InProcessTestCluster> StartClusterAsync(string root)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo.AddFileGrainStorage("fl", o => o.RootDirectory = root));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    [Fact]
    public async Task Write_then_read_in_a_new_provider_returns_the_same_state_and_etag()
    {
        var written = new GrainState<RoundProgress>(Sample(1));
        await NewStorage().WriteStateAsync("s", Grain, written);

        var read = new GrainState<RoundProgress>();
        await NewStorage().ReadStateAsync("s", Grain, read);

        Assert.True(read.RecordExists);
        Assert.NotNull(read.ETag);
        Assert.Equal(written.ETag, read.ETag);
        AssertEqual(written.State, read.State);
    }

    [Fact]
    public async Task Reading_a_missing_record_gives_no_etag_and_a_fresh_state()
    {
        var read = new GrainState<RoundProgress>(Sample(9), "stale");
        await NewStorage().ReadStateAsync("s", Grain, read);

        Assert.False(read.RecordExists);
        Assert.Null(read.ETag);
        Assert.Equal(0, read.State!.Round);
    }

    [Fact]
    public async Task Each_write_gets_a_new_etag()
    {
        var storage = NewStorage();
        var state = new GrainState<RoundProgress>(Sample(1));
        await storage.WriteStateAsync("s", Grain, state);
        var firstETag = state.ETag;
        state.State = Sample(2);
        await storage.WriteStateAsync("s", Grain, state);

        Assert.NotEqual(firstETag, state.ETag);
    }

    [Theory]
    [InlineData("other-etag")]
    [InlineData(null)]
    public async Task Write_with_a_stale_etag_throws_InconsistentStateException_and_leaves_the_file_unchanged(string? staleETag)
    {
        var storage = NewStorage();
        await storage.WriteStateAsync("s", Grain, new GrainState<RoundProgress>(Sample(1)));
        var path = storage.GetFilePath("s", Grain);
        var before = await File.ReadAllBytesAsync(path);

        var stale = new GrainState<RoundProgress>(Sample(2), staleETag!);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("s", Grain, stale));

        Assert.Equal(before, await File.ReadAllBytesAsync(path));
        Assert.Equal(staleETag, stale.ETag);
    }

    [Fact]
    public async Task Write_with_an_etag_when_no_record_exists_throws_InconsistentStateException()
    {
        // The record was cleared by someone else since this caller read it.
        var storage = NewStorage();
        var state = new GrainState<RoundProgress>(Sample(1), "etag-from-before-a-clear");

        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("s", Grain, state));
        Assert.False(File.Exists(storage.GetFilePath("s", Grain)));
    }

    [Fact]
    public async Task Of_concurrent_writers_holding_the_same_etag_exactly_one_wins()
    {
        var storage = NewStorage();
        var seed = new GrainState<RoundProgress>(Sample(0));
        await storage.WriteStateAsync("s", Grain, seed);

        var writers = Enumerable.Range(1, 16).Select(async round =>
        {
            try
            {
                await storage.WriteStateAsync("s", Grain, new GrainState<RoundProgress>(Sample(round), seed.ETag!));
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        });
        var outcomes = await Task.WhenAll(writers);

        Assert.Single(outcomes, won => won);
    }

    [Fact]
    public async Task Clear_removes_the_file_and_resets_the_state()
    {
        var storage = NewStorage();
        var state = new GrainState<RoundProgress>(Sample(4));
        await storage.WriteStateAsync("s", Grain, state);
        var path = storage.GetFilePath("s", Grain);
        Assert.True(File.Exists(path));

        await storage.ClearStateAsync("s", Grain, state);

        Assert.False(File.Exists(path));
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);
        Assert.Equal(0, state.State!.Round);

        // After a clear, the null ETag creates the record again.
        state.State = Sample(5);
        await storage.WriteStateAsync("s", Grain, state);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task Clear_with_a_stale_etag_throws_InconsistentStateException_and_keeps_the_file()
    {
        var storage = NewStorage();
        await storage.WriteStateAsync("s", Grain, new GrainState<RoundProgress>(Sample(1)));

        var stale = new GrainState<RoundProgress>(Sample(1), "other-etag");
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("s", Grain, stale));
        Assert.True(File.Exists(storage.GetFilePath("s", Grain)));
    }

    [Theory]
    [InlineData("flipped payload byte")]
    [InlineData("truncated")]
    [InlineData("garbage")]
    [InlineData("empty")]
    public async Task Reading_a_corrupt_file_throws_an_error_naming_the_file(string corruption)
    {
        var storage = NewStorage();
        var state = new GrainState<RoundProgress>(Sample(1));
        await storage.WriteStateAsync("s", Grain, state);
        var path = storage.GetFilePath("s", Grain);
        var bytes = await File.ReadAllBytesAsync(path);
        byte[] corrupt = corruption switch
        {
            "flipped payload byte" => Flip(bytes, bytes.Length - 40),
            "truncated" => bytes[..^5],
            "garbage" => "not a state file"u8.ToArray(),
            _ => [],
        };
        await File.WriteAllBytesAsync(path, corrupt);

        var read = new GrainState<RoundProgress>();
        var error = await Assert.ThrowsAsync<FileGrainStorageException>(() => storage.ReadStateAsync("s", Grain, read));

        Assert.Equal(path, error.FilePath);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal(corrupt, await File.ReadAllBytesAsync(path));

        static byte[] Flip(byte[] source, int index)
        {
            var copy = source.ToArray();
            copy[index] ^= 0xFF;
            return copy;
        }
    }

    [Fact]
    public async Task Writes_leave_no_temp_files_in_the_directory()
    {
        var storage = NewStorage();
        var state = new GrainState<RoundProgress>();
        for (var round = 0; round < 5; round++)
        {
            state.State = Sample(round);
            await storage.WriteStateAsync("s", Grain, state);
        }

        await storage.WriteStateAsync("s", GrainId.Create("round", "fed/2"), new GrainState<RoundProgress>(Sample(1)));
        await Assert.ThrowsAsync<InconsistentStateException>(
            () => storage.WriteStateAsync("s", Grain, new GrainState<RoundProgress>(Sample(9), "stale")));

        var files = Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(
            new[] { FileGrainStorage.GetFileName("s", Grain), FileGrainStorage.GetFileName("s", GrainId.Create("round", "fed/2")) }.Order(),
            files);
    }

    [Fact]
    public async Task A_write_flushes_the_directory_after_the_rename_and_so_does_a_clear()
    {
        var storage = NewStorage();
        var state = new GrainState<RoundProgress>(Sample(1));
        var path = storage.GetFilePath("s", Grain);
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
        {
            await storage.WriteStateAsync("s", Grain, state);
            calls.AssertReplacedDurably(path);
            await storage.ClearStateAsync("s", Grain, state);
        }

        Assert.Equal(new SystemCall(SystemCallKind.FlushDirectory, _dir.Path), calls.Calls[^1]);
        Assert.Equal(4, calls.Calls.Count);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void File_names_are_readable_single_path_segments_and_distinct_per_identity()
    {
        string[] keys = ["fed/1", "fed%2f1", "fed_1", "../../etc/passwd", "A", "a", "con", "key with spaces", "ключ", new string('k', 400), new string('k', 401)];
        var names = keys.Select(key => FileGrainStorage.GetFileName("s", GrainId.Create("round", key))).ToList();
        names.Add(FileGrainStorage.GetFileName("t", GrainId.Create("round", "fed/1")));
        names.Add(FileGrainStorage.GetFileName("s", GrainId.Create("other", "fed/1")));

        Assert.Equal("round+fed%2f1+s.state", names[0]);
        Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(names, name =>
        {
            Assert.Equal(name, Path.GetFileName(name));
            Assert.True(name.Length <= 200, name);
            Assert.DoesNotContain(name, c => Path.GetInvalidFileNameChars().Contains(c) || c is '/' or '\\' or ':' or '*' or '?' or '"' or '<' or '>' or '|');
        });
    }
}
