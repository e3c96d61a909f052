using System.Security.Cryptography;
using Federated.IO;
using Federated.Contracts;

namespace Federated.Storage.Tests;

/// <summary>The directory back ends' flushes and renames, in order, through the one binding's test double.</summary>
public sealed class DirectoryDurabilityTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("fed-durability-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_put_syncs_its_bytes_before_the_rename_and_the_rename_before_it_returns()
    {
        var store = new DirectoryContentStore(_root);
        var calls = new RecordingSystemCalls();
        StoredUpdate reference;
        using (FileSystemSync.Use(calls))
            reference = await store.PutAsync(new MemoryStream([1, 2, 3]));

        string final = Path.Combine(_root, reference.Sha256[..2], reference.Sha256);
        var kinds = calls.Calls.Select(c => c.Kind).ToArray();
        if (FileSystemSync.OperatingSystem.CanSyncFileSystem)
            Assert.Equal([SystemCallKind.SyncFileSystem, SystemCallKind.Rename, SystemCallKind.SyncFileSystem], kinds);
        else
            Assert.Equal([SystemCallKind.FlushFile, SystemCallKind.Rename, SystemCallKind.FlushDirectory, SystemCallKind.FlushDirectory], kinds);
        Assert.Equal(final, calls.Calls[1].Destination);
        Assert.Equal(Path.Combine(_root, ".incoming"), Path.GetDirectoryName(calls.Calls[1].Path));
    }

    [Fact]
    public async Task An_upload_ticket_is_replaced_durably()
    {
        var staging = new DirectoryUploadStaging(_root);
        byte[] content = [4, 5, 6];
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
            await staging.BeginAsync(new UploadTicket("upload-1", "client-1", Convert.ToHexStringLower(SHA256.HashData(content)), content.Length));

        string ticket = Assert.Single(Directory.GetFiles(_root, "ticket.json", SearchOption.AllDirectories));
        calls.AssertReplacedDurably(ticket);
        Assert.Equal(["acks", "data", "ticket.json"], Directory.GetFiles(Path.GetDirectoryName(ticket)!).Select(Path.GetFileName).Order());
    }
}
