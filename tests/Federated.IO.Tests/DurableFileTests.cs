namespace Federated.IO.Tests;

public sealed class DurableFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-durable-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string FileNamed(string name) => Path.Combine(_dir, name);

    string[] Names() => [.. Directory.GetFiles(_dir).Select(Path.GetFileName).Order()!];

    [Fact]
    public void A_write_flushes_the_file_renames_it_over_the_target_and_then_flushes_the_directory()
    {
        string target = FileNamed("state.json");
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
            DurableFile.Write(target, stream => stream.Write("{}"u8));

        Assert.Equal([SystemCallKind.FlushFile, SystemCallKind.Rename, SystemCallKind.FlushDirectory], calls.Calls.Select(c => c.Kind));
        calls.AssertReplacedDurably(target);
        Assert.Equal("{}"u8.ToArray(), File.ReadAllBytes(target));
        Assert.Equal(["state.json"], Names());
    }

    [Fact]
    public async Task An_async_write_takes_the_same_steps_in_the_same_order()
    {
        string target = FileNamed("grain.state");
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
            await DurableFile.WriteBytesAsync(target, new byte[] { 1, 2, 3 });

        Assert.Equal(3, calls.Calls.Count);
        calls.AssertReplacedDurably(target);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(target));
        Assert.Equal(["grain.state"], Names());
    }

    [Fact]
    public void A_write_replaces_the_old_content_whole()
    {
        string target = FileNamed("adapter.safetensors");
        DurableFile.WriteBytes(target, new byte[1000]);
        DurableFile.WriteBytes(target, new byte[] { 7 });
        Assert.Equal([7], File.ReadAllBytes(target));
        Assert.Equal(["adapter.safetensors"], Names());
    }

    [Fact]
    public void A_write_that_throws_leaves_the_old_content_and_no_temporary_file()
    {
        string target = FileNamed("round.json");
        DurableFile.WriteBytes(target, "old"u8.ToArray());

        Assert.Throws<InvalidOperationException>(() => DurableFile.Write(target, stream =>
        {
            stream.Write("half of the new"u8);
            throw new InvalidOperationException("the writer failed");
        }));

        Assert.Equal("old"u8.ToArray(), File.ReadAllBytes(target));
        Assert.Equal(["round.json"], Names());
    }

    [Theory]
    [InlineData(SystemCallKind.FlushFile)]
    [InlineData(SystemCallKind.Rename)]
    public async Task A_failed_flush_or_rename_leaves_the_old_content_and_no_temporary_file(SystemCallKind failing)
    {
        string target = FileNamed("client.json");
        DurableFile.WriteBytes(target, "old"u8.ToArray());
        var calls = new RecordingSystemCalls { Fail = c => c.Kind == failing };

        using (FileSystemSync.Use(calls))
        {
            Assert.Throws<IOException>(() => DurableFile.WriteBytes(target, "new"u8.ToArray()));
            await Assert.ThrowsAsync<IOException>(() => DurableFile.WriteBytesAsync(target, "new"u8.ToArray()));
        }

        Assert.Equal("old"u8.ToArray(), File.ReadAllBytes(target));
        Assert.Equal(["client.json"], Names());
        Assert.DoesNotContain(calls.Calls, c => c.Kind == SystemCallKind.FlushDirectory);
    }

    [Fact]
    public void An_owner_only_file_is_created_readable_and_writable_by_its_owner_alone()
    {
        if (OperatingSystem.IsWindows()) return;
        string target = FileNamed("client.json");
        DurableFile.WriteBytes(target, "secret"u8.ToArray(), ownerOnly: true);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
    }

    [Fact]
    public void Commit_renames_a_flushed_file_into_place_and_flushes_the_target_directory()
    {
        string partial = FileNamed("adapter.partial"), target = FileNamed("adapter.safetensors");
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
        {
            using (var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write("bytes"u8);
                FileSystemSync.FlushFile(file);
            }
            DurableFile.Commit(partial, target);
        }

        calls.AssertReplacedDurably(target);
        Assert.Equal(["adapter.safetensors"], Names());
    }

    [Fact]
    public async Task A_substitute_sees_only_the_calls_of_the_flow_that_installed_it()
    {
        var outer = new RecordingSystemCalls();
        var inner = new RecordingSystemCalls();
        string a = FileNamed("a"), b = FileNamed("b"), c = FileNamed("c");
        using (FileSystemSync.Use(outer))
        {
            await Task.WhenAll(
                Task.Run(() =>
                {
                    using (FileSystemSync.Use(inner)) DurableFile.WriteBytes(a, new byte[] { 1 });
                }),
                Task.Run(() => DurableFile.WriteBytes(b, new byte[] { 2 })));
        }
        DurableFile.WriteBytes(c, new byte[] { 3 }); // after the scope: the operating system's calls, recorded by neither

        Assert.All(inner.Calls.Where(x => x.Kind == SystemCallKind.Rename), x => Assert.Equal(a, x.Destination));
        Assert.All(outer.Calls.Where(x => x.Kind == SystemCallKind.Rename), x => Assert.Equal(b, x.Destination));
        inner.AssertReplacedDurably(a);
        outer.AssertReplacedDurably(b);
        Assert.Equal(3, inner.Calls.Count);
        Assert.Equal(3, outer.Calls.Count);
    }

    [Fact]
    public void The_operating_system_calls_rename_over_an_existing_file_and_flush_directories_and_file_systems()
    {
        string from = FileNamed("from"), to = FileNamed("to");
        File.WriteAllText(from, "new");
        File.WriteAllText(to, "old");
        var system = FileSystemSync.OperatingSystem;

        Assert.True(system.TryRename(from, to));
        system.FlushDirectory(_dir);
        if (system.CanSyncFileSystem) system.SyncFileSystem(_dir);

        Assert.Equal("new", File.ReadAllText(to));
        Assert.False(File.Exists(from));
        Assert.Throws<IOException>(() => system.TryRename(FileNamed("missing"), to));
        Assert.Throws<IOException>(() => system.FlushDirectory(FileNamed("missing")));
    }
}
