using System.Buffers.Binary;
using System.Security.Cryptography;
using StackExchange.Redis;
using Federated.Contracts;

namespace Federated.Storage.Tests;

/// <summary>What every upload staging promises, run against each implementation.</summary>
public abstract partial class UploadStagingContract
{
    protected const long Limit = 1 << 20;
    protected const string Owner = "client-7";

    /// <summary>
    /// A staging with a 1 MiB limit (chunked at 64 KiB where chunks exist) over this test's state; a
    /// second call is a coordinator that restarted: a new instance over the same directory or Redis.
    /// </summary>
    protected abstract IUploadStaging NewStaging(TimeSpan? idleTtl = null, StagingLimits? limits = null);

    /// <summary>How many uploads (open or completed) the staging holds: upload directories, upload hashes.</summary>
    protected abstract Task<int> CountUploadsAsync();

    /// <summary>Where completed uploads go.</summary>
    protected abstract IContentStore Store { get; }

    /// <summary>Whether any staged payload bytes are left (a completion marker is not payload).</summary>
    protected abstract Task<bool> HasStagedBytesAsync();

    IUploadStaging? _staging;
    IUploadStaging Staging => _staging ??= NewStaging();

    protected static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static UploadTicket TicketFor(byte[] content, string uploadId = "upload-1", string owner = Owner) =>
        new(uploadId, owner, Convert.ToHexStringLower(SHA256.HashData(content)), content.Length);

    /// <summary>Appends <paramref name="content"/>[from..to] in pieces of <paramref name="piece"/> bytes, checking each acknowledged offset.</summary>
    protected static async Task SendAsync(IUploadStaging staging, UploadTicket ticket, byte[] content, int from, int to, int piece = 10_000)
    {
        for (int offset = from; offset < to; offset += piece)
        {
            int end = Math.Min(to, offset + piece);
            Assert.Equal(end, await staging.AppendAsync(ticket.Owner, ticket.UploadId, offset, content.AsMemory(offset, end - offset)));
        }
    }

    /// <summary>
    /// Counts how completions hand a store the bytes. Unless <paramref name="mayPut"/>, a put into a store that could adopt fails
    /// the test: completion must adopt (or, when told it cannot, put).
    /// </summary>
    protected sealed class AdoptionProbe(IContentStore inner, bool canAdopt = true, bool mayPut = false) : IAdoptingContentStore
    {
        public int Adopted, Puts;

        public async Task<StoredUpdate?> TryAdoptAsync(IStagedPayload staged, CancellationToken cancellationToken = default)
        {
            if (!canAdopt) return null;
            Adopted++;
            return await ((IAdoptingContentStore)inner).TryAdoptAsync(staged, cancellationToken);
        }

        public Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
        {
            Assert.False(canAdopt && !mayPut, "the staged bytes were copied into a store that could adopt them");
            Puts++;
            return inner.PutAsync(content, cancellationToken);
        }

        public Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => inner.ReadAsync(reference, cancellationToken);
        public Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default) => inner.OpenReadAsync(reference, offset, cancellationToken);
        public Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => inner.ContainsAsync(reference, cancellationToken);
        public Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => inner.DeleteAsync(reference, cancellationToken);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(65_536, 65_536)]      // exactly one chunk in one append
    [InlineData(230_001, 10_000)]     // several chunks, appends that straddle chunk boundaries
    [InlineData(300_000, 200_000)]    // one append spanning several chunks
    public async Task Begin_append_complete_round_trips_the_bytes_under_their_sha256(int size, int piece)
    {
        var content = Bytes(size, size);
        var ticket = TicketFor(content);
        Assert.Equal(0, await Staging.BeginAsync(ticket));
        await SendAsync(Staging, ticket, content, 0, size, piece);

        var reference = await Staging.CompleteAsync(Owner, ticket.UploadId, Store);

        Assert.Equal(new StoredUpdate(Convert.ToHexStringLower(SHA256.HashData(content)), size), reference);
        Assert.Equal(content, await Store.ReadAsync(reference));
        Assert.False(await HasStagedBytesAsync());
    }

    [Fact]
    public async Task Begin_again_with_the_same_ticket_returns_the_acknowledged_offset()
    {
        var content = Bytes(100_000, 1);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 40_000);

        Assert.Equal(40_000, await Staging.BeginAsync(ticket));
        Assert.Equal(40_000, await Staging.BeginAsync(ticket with { Sha256 = ticket.Sha256.ToUpperInvariant() }));
        Assert.Equal(40_000, await Staging.GetOffsetAsync(Owner, ticket.UploadId));
    }

    [Fact]
    public async Task A_restarted_staging_resumes_from_the_acknowledged_offset_and_completes()
    {
        var content = Bytes(200_000, 2);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 130_000);

        var restarted = NewStaging();
        Assert.Equal(130_000, await restarted.GetOffsetAsync(Owner, ticket.UploadId));
        Assert.Equal(130_000, await restarted.BeginAsync(ticket));
        await SendAsync(restarted, ticket, content, 130_000, content.Length);
        var reference = await restarted.CompleteAsync(Owner, ticket.UploadId, Store);

        Assert.Equal(content, await Store.ReadAsync(reference));
    }

    [Theory]
    [InlineData(0)]        // resending acknowledged bytes
    [InlineData(29_999)]
    [InlineData(50_000)]   // skipping bytes
    public async Task An_append_at_another_offset_is_refused_with_the_offset_to_resume_from(long offset)
    {
        var content = Bytes(100_000, 3);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 30_000);

        var e = await Assert.ThrowsAsync<UploadOffsetMismatchException>(() =>
            Staging.AppendAsync(Owner, ticket.UploadId, offset, content.AsMemory((int)offset, 1000)));

        Assert.Equal(30_000, e.ExpectedOffset);
        Assert.Contains("resume from offset 30000", e.Message);
        Assert.Equal(30_000, await Staging.GetOffsetAsync(Owner, ticket.UploadId));
    }

    [Fact]
    public async Task Racing_appends_at_the_same_offset_acknowledge_exactly_one()
    {
        // A client that reconnects while its old stream is still being drained sends the same offset twice.
        var content = Bytes(120_000, 4);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 60_000);

        var attempts = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            try { return await Staging.AppendAsync(Owner, ticket.UploadId, 60_000, content.AsMemory(60_000, 30_000)); }
            catch (UploadOffsetMismatchException e) { return -e.ExpectedOffset; }
        })).ToArray();
        var results = await Task.WhenAll(attempts);

        // Losers learn an offset past theirs (a store may acknowledge a long append piece by piece).
        Assert.Equal(90_000, Assert.Single(results, r => r > 0));
        Assert.All(results.Where(r => r < 0), r => Assert.InRange(-r, 60_001, 90_000));
        Assert.Equal(90_000, await Staging.GetOffsetAsync(Owner, ticket.UploadId));
        await SendAsync(Staging, ticket, content, 90_000, content.Length);
        Assert.Equal(content, await Store.ReadAsync(await Staging.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task A_hash_mismatch_is_refused_the_upload_discarded_and_nothing_stored()
    {
        var content = Bytes(150_000, 5);
        var ticket = TicketFor(content);
        var sent = content.ToArray();
        sent[77_777] ^= 0x01;
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, sent, 0, sent.Length);

        var e = await Assert.ThrowsAsync<UploadHashMismatchException>(() => Staging.CompleteAsync(Owner, ticket.UploadId, Store));

        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(sent)), e.Message);
        Assert.False(await Store.ContainsAsync(ticket.Reference));
        Assert.False(await Store.ContainsAsync(TicketFor(sent).Reference));
        Assert.False(await HasStagedBytesAsync());
        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.GetOffsetAsync(Owner, ticket.UploadId));
        Assert.Equal(0, await Staging.BeginAsync(ticket)); // the client may start over under the same id
    }

    [Fact]
    public async Task A_ticket_for_other_bytes_under_an_id_in_use_is_refused()
    {
        var content = Bytes(50_000, 6);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);

        var other = await Assert.ThrowsAsync<UploadConflictException>(() => Staging.BeginAsync(TicketFor(Bytes(50_000, 7))));
        await Assert.ThrowsAsync<UploadConflictException>(() => Staging.BeginAsync(ticket with { Size = 50_001 }));

        Assert.Contains("choose a new upload id", other.Message);
        Assert.Contains(ticket.Sha256, other.Message);
        Assert.Equal(0, await Staging.GetOffsetAsync(Owner, ticket.UploadId));
    }

    [Fact]
    public async Task A_declared_size_over_the_limit_is_refused_and_nothing_staged()
    {
        var e = await Assert.ThrowsAsync<UploadTooLargeException>(() =>
            Staging.BeginAsync(new UploadTicket("big", Owner, new string('a', 64), Limit + 1)));

        Assert.Contains("1,048,576-byte limit", e.Message);
        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.GetOffsetAsync(Owner, "big"));
        Assert.Equal(0, await Staging.BeginAsync(new UploadTicket("big", Owner, new string('a', 64), Limit)));
    }

    [Theory]
    [InlineData("ok", "client", 64, 0)]                 // empty
    [InlineData("ok", "client", 64, -5)]
    [InlineData("ok", "client", 63, 10)]                // not a SHA-256
    [InlineData("", "client", 64, 10)]
    [InlineData("../escape", "client", 64, 10)]
    [InlineData("a.b", "client", 64, 10)]
    [InlineData("ok", "", 64, 10)]
    public async Task A_malformed_ticket_is_refused(string uploadId, string owner, int shaLength, long size) =>
        await Assert.ThrowsAsync<ArgumentException>(() => Staging.BeginAsync(new UploadTicket(uploadId, owner, new string('b', shaLength), size)));

    [Fact]
    public async Task An_id_of_64_characters_and_a_free_form_owner_are_accepted()
    {
        var content = Bytes(1000, 8);
        var ticket = TicketFor(content, new string('x', 32) + new string('_', 16) + new string('-', 15) + "Z", owner: "../Ünïcode client/{tag}:*");
        Assert.Equal(0, await Staging.BeginAsync(ticket));
        await SendAsync(Staging, ticket, content, 0, content.Length);
        Assert.Equal(content, await Store.ReadAsync(await Staging.CompleteAsync(ticket.Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task Bytes_beyond_the_declared_size_are_refused_and_none_of_them_appended()
    {
        var content = Bytes(100_000, 9);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 90_000);

        var e = await Assert.ThrowsAsync<UploadOverrunException>(() =>
            Staging.AppendAsync(Owner, ticket.UploadId, 90_000, Bytes(80_000, 10)));

        Assert.Contains("remaining 10,000 bytes", e.Message);
        Assert.Equal(90_000, await Staging.GetOffsetAsync(Owner, ticket.UploadId));
        await SendAsync(Staging, ticket, content, 90_000, content.Length);
        Assert.Equal(content, await Store.ReadAsync(await Staging.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task Completing_before_all_bytes_arrived_is_refused_with_the_offset_to_resume_from()
    {
        var content = Bytes(100_000, 11);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 70_000);

        var e = await Assert.ThrowsAsync<UploadIncompleteException>(() => Staging.CompleteAsync(Owner, ticket.UploadId, Store));

        Assert.Equal(70_000, e.ExpectedOffset);
        Assert.Contains("resume from offset 70000", e.Message);
        Assert.False(await Store.ContainsAsync(ticket.Reference));
    }

    [Fact]
    public async Task A_completed_upload_answers_retries_with_the_same_reference()
    {
        var content = Bytes(80_000, 12);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, content.Length);
        var reference = await Staging.CompleteAsync(Owner, ticket.UploadId, Store);

        var restarted = NewStaging();
        Assert.Equal(reference, await restarted.CompleteAsync(Owner, ticket.UploadId, Store));
        Assert.Equal(content.Length, await restarted.BeginAsync(ticket));
        Assert.Equal(content.Length, await restarted.GetOffsetAsync(Owner, ticket.UploadId));
        Assert.Equal(content.Length, await restarted.AppendAsync(Owner, ticket.UploadId, content.Length, ReadOnlyMemory<byte>.Empty));
        await Assert.ThrowsAsync<UploadOverrunException>(() => restarted.AppendAsync(Owner, ticket.UploadId, content.Length, new byte[1]));
        Assert.False(await HasStagedBytesAsync());
    }

    [Fact]
    public async Task Abort_deletes_the_upload()
    {
        var content = Bytes(100_000, 13);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 100_000);

        await Staging.AbortAsync(Owner, ticket.UploadId);
        await Staging.AbortAsync(Owner, ticket.UploadId); // idempotent

        Assert.False(await HasStagedBytesAsync());
        var e = await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.GetOffsetAsync(Owner, ticket.UploadId));
        Assert.Contains("begin it again from offset 0", e.Message);
        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.AppendAsync(Owner, ticket.UploadId, 0, content.AsMemory(0, 10)));
        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.CompleteAsync(Owner, ticket.UploadId, Store));
        Assert.Equal(0, await Staging.BeginAsync(ticket));
    }

    [Fact]
    public async Task Another_owner_can_neither_see_nor_touch_an_upload_and_its_id_is_a_separate_upload()
    {
        var content = Bytes(100_000, 14);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        await SendAsync(Staging, ticket, content, 0, 50_000);
        const string intruder = "client-8";

        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.GetOffsetAsync(intruder, ticket.UploadId));
        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.AppendAsync(intruder, ticket.UploadId, 50_000, content.AsMemory(50_000, 100)));
        await Assert.ThrowsAsync<UploadNotFoundException>(() => Staging.CompleteAsync(intruder, ticket.UploadId, Store));
        await Staging.AbortAsync(intruder, ticket.UploadId);
        Assert.Equal(50_000, await Staging.GetOffsetAsync(Owner, ticket.UploadId));

        // The same id under another owner is that owner's own upload, of other bytes.
        var theirs = Bytes(30_000, 15);
        var theirTicket = TicketFor(theirs, ticket.UploadId, intruder);
        Assert.Equal(0, await Staging.BeginAsync(theirTicket));
        await SendAsync(Staging, theirTicket, theirs, 0, theirs.Length);
        Assert.Equal(theirs, await Store.ReadAsync(await Staging.CompleteAsync(intruder, ticket.UploadId, Store)));

        await SendAsync(Staging, ticket, content, 50_000, content.Length);
        Assert.Equal(content, await Store.ReadAsync(await Staging.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task Concurrent_uploads_with_different_ids_do_not_interfere()
    {
        var contents = Enumerable.Range(0, 8).Select(i => Bytes(60_000 + i * 17_001, 100 + i)).ToArray();
        var references = await Task.WhenAll(contents.Select((content, i) => Task.Run(async () =>
        {
            var ticket = TicketFor(content, $"up-{i}", owner: $"client-{i % 3}");
            await Staging.BeginAsync(ticket);
            await SendAsync(Staging, ticket, content, 0, content.Length, piece: 7_000 + i * 1_000);
            return await Staging.CompleteAsync(ticket.Owner, ticket.UploadId, Store);
        })));

        for (int i = 0; i < contents.Length; i++)
            Assert.Equal(contents[i], await Store.ReadAsync(references[i]));
        Assert.False(await HasStagedBytesAsync());
    }

    /// <summary>Writes <paramref name="content"/>[from..to] without asking for durability; returns the last acknowledged offset.</summary>
    protected static async Task<long> WriteAsync(IUploadStaging staging, UploadTicket ticket, byte[] content, int from, int to, int piece = 10_000)
    {
        long acknowledged = 0; // from may be past the acknowledged offset
        for (int offset = from; offset < to; offset += piece)
        {
            int end = Math.Min(to, offset + piece);
            long now = await staging.WriteAsync(ticket.Owner, ticket.UploadId, offset, content.AsMemory(offset, end - offset));
            Assert.InRange(now, acknowledged, end); // never backwards, never beyond what was written
            acknowledged = now;
        }
        return acknowledged;
    }

    [Fact]
    public async Task Written_bytes_are_acknowledged_by_the_next_append_and_a_restart_resumes_there()
    {
        var content = Bytes(300_000, 30);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        long acknowledged = await WriteAsync(Staging, ticket, content, 0, 250_000);
        Assert.Equal(acknowledged, await Staging.GetOffsetAsync(Owner, ticket.UploadId));

        // The end of a stream: everything written becomes durable.
        Assert.Equal(250_000, await Staging.AppendAsync(Owner, ticket.UploadId, 250_000, ReadOnlyMemory<byte>.Empty));
        Assert.Equal(250_000, await Staging.GetOffsetAsync(Owner, ticket.UploadId));

        var restarted = NewStaging();
        Assert.Equal(250_000, await restarted.BeginAsync(ticket));
        await WriteAsync(restarted, ticket, content, 250_000, content.Length);
        Assert.Equal(content.Length, await restarted.AppendAsync(Owner, ticket.UploadId, content.Length, ReadOnlyMemory<byte>.Empty));
        Assert.Equal(content, await Store.ReadAsync(await restarted.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task A_restart_forgets_unacknowledged_bytes_and_the_client_resends_them_from_the_acknowledged_offset()
    {
        var content = Bytes(300_000, 31);
        var ticket = TicketFor(content);
        await Staging.BeginAsync(ticket);
        long acknowledged = await WriteAsync(Staging, ticket, content, 0, 230_000);

        var restarted = NewStaging(); // the coordinator stopped before a sync point
        Assert.Equal(acknowledged, await restarted.GetOffsetAsync(Owner, ticket.UploadId));
        Assert.Equal(acknowledged, await restarted.BeginAsync(ticket));
        if (acknowledged < 230_000)
            await Assert.ThrowsAsync<UploadOffsetMismatchException>(() => restarted.AppendAsync(Owner, ticket.UploadId, 230_000, content.AsMemory(230_000, 10)));
        await SendAsync(restarted, ticket, content, (int)acknowledged, content.Length);

        Assert.Equal(content, await Store.ReadAsync(await restarted.CompleteAsync(Owner, ticket.UploadId, Store)));
        Assert.False(await HasStagedBytesAsync());
    }

    [Fact]
    public async Task Completing_after_a_restart_still_verifies_the_bytes()
    {
        var good = Bytes(200_000, 32);
        var goodTicket = TicketFor(good, "good");
        var bad = Bytes(200_000, 33);
        var badTicket = TicketFor(bad, "bad");
        var sent = bad.ToArray();
        sent[123_456] ^= 0x80;
        foreach (var (ticket, bytes) in new[] { (goodTicket, good), (badTicket, sent) })
        {
            await Staging.BeginAsync(ticket);
            await SendAsync(Staging, ticket, bytes, 0, bytes.Length, piece: 30_000);
        }

        var restarted = NewStaging(); // no digest in memory: the staged bytes are hashed again
        Assert.Equal(good, await Store.ReadAsync(await restarted.CompleteAsync(Owner, goodTicket.UploadId, Store)));
        var e = await Assert.ThrowsAsync<UploadHashMismatchException>(() => restarted.CompleteAsync(Owner, badTicket.UploadId, Store));

        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(sent)), e.Message);
        Assert.False(await Store.ContainsAsync(badTicket.Reference));
        Assert.False(await Store.ContainsAsync(TicketFor(sent).Reference));
        Assert.False(await HasStagedBytesAsync());
    }

    [Fact]
    public async Task An_upload_left_idle_past_its_time_to_live_vanishes()
    {
        var staging = NewStaging(TimeSpan.FromMilliseconds(1500));
        var content = Bytes(100_000, 16);
        var idle = TicketFor(content, "idle");
        var active = TicketFor(content, "active");
        await staging.BeginAsync(idle);
        await staging.BeginAsync(active);
        await SendAsync(staging, idle, content, 0, 70_000);
        await SendAsync(staging, active, content, 0, 10_000);

        // The active upload keeps appending (each append restarts its clock); the idle one does not.
        for (int offset = 10_000; offset < 70_000; offset += 10_000)
        {
            await Task.Delay(400);
            await SendAsync(staging, active, content, offset, offset + 10_000);
        }

        await Assert.ThrowsAsync<UploadNotFoundException>(() => staging.GetOffsetAsync(Owner, "idle"));
        Assert.Equal(70_000, await staging.GetOffsetAsync(Owner, "active"));
        Assert.Equal(0, await staging.BeginAsync(idle));
    }
}

public sealed class DirectoryUploadStagingTests : UploadStagingContract, IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("upload-staging-").FullName;

    public DirectoryUploadStagingTests() => Store = new DirectoryContentStore(_root, Limit);

    /// <summary>Sync points every 64 KiB of written bytes, so that the tests' uploads cross several.</summary>
    const int SyncBytes = 65_536;

    protected override IUploadStaging NewStaging(TimeSpan? idleTtl = null, StagingLimits? limits = null) =>
        new DirectoryUploadStaging(_root, Limit, idleTtl, SyncBytes, limits);

    protected override Task<int> CountUploadsAsync() =>
        Task.FromResult(Directory.EnumerateDirectories(Path.Combine(_root, ".staging")).SelectMany(Directory.EnumerateDirectories).Count());

    protected override Task<bool> HasStagedBytesOfAsync(UploadTicket ticket) =>
        Task.FromResult(Directory.EnumerateFiles(Path.Combine(_root, ".staging"), "data", SearchOption.AllDirectories)
            .Any(f => Path.GetFileName(Path.GetDirectoryName(f)) == ticket.UploadId));

    protected override IContentStore Store { get; }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    protected override Task<bool> HasStagedBytesAsync() =>
        Task.FromResult(Directory.EnumerateFiles(Path.Combine(_root, ".staging"), "data", SearchOption.AllDirectories).Any());

    string UploadDirectory(string uploadId) =>
        Assert.Single(Directory.GetDirectories(Path.Combine(_root, ".staging"), uploadId, SearchOption.AllDirectories));

    [Fact]
    public async Task A_tail_a_crash_left_beyond_the_last_acknowledgement_is_not_acknowledged()
    {
        var content = Bytes(200_000, 20);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, 120_000);

        // A power loss mid-append: the data file grew by blocks of zeros, and the ack journal holds a
        // zeroed record and half of another.
        string dir = UploadDirectory(ticket.UploadId);
        await using (var data = new FileStream(Path.Combine(dir, "data"), FileMode.Append))
            data.Write(new byte[50_000]);
        await using (var acks = new FileStream(Path.Combine(dir, "acks"), FileMode.Append))
        {
            acks.Write(new byte[16]);
            var torn = new byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(torn, 170_000);
            acks.Write(torn, 0, 9);
        }

        var restarted = NewStaging();
        Assert.Equal(120_000, await restarted.BeginAsync(ticket));
        await SendAsync(restarted, ticket, content, 120_000, content.Length);
        Assert.Equal(content, await Store.ReadAsync(await restarted.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task Each_upload_is_a_data_file_and_an_ack_journal_beside_its_ticket()
    {
        var content = Bytes(50_000, 21);
        var ticket = TicketFor(content);
        await NewStaging().BeginAsync(ticket);
        await SendAsync(NewStaging(), ticket, content, 0, 30_000);

        string dir = UploadDirectory(ticket.UploadId);
        Assert.Equal(["acks", "data", "ticket.json"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        Assert.Equal(30_000, new FileInfo(Path.Combine(dir, "data")).Length);
        Assert.Equal(3 * 16, new FileInfo(Path.Combine(dir, "acks")).Length);
        Assert.Contains(ticket.Sha256, File.ReadAllText(Path.Combine(dir, "ticket.json")));
    }

    string DataOf(string uploadId) => Path.Combine(UploadDirectory(uploadId), "data");

    long JournalRecords(string uploadId) => new FileInfo(Path.Combine(UploadDirectory(uploadId), "acks")).Length / 16;

    /// <summary>Payload files in the store: 64 hex digits under a two-digit shard.</summary>
    IEnumerable<string> StoredFiles() =>
        Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f).Length == 64 && !f.Contains(".staging"));

    [Fact]
    public async Task The_acknowledged_offset_advances_only_at_sync_points_and_survives_a_restart()
    {
        var content = Bytes(300_000, 40);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);

        var acknowledged = new List<long>();
        for (int offset = 0; offset < 200_000; offset += 10_000)
            acknowledged.Add(await staging.WriteAsync(Owner, ticket.UploadId, offset, content.AsMemory(offset, 10_000)));

        // A sync point once 64 KiB are pending: after 70,000 and 140,000 bytes, one journal record each.
        Assert.Equal([.. Enumerable.Repeat(0L, 6), .. Enumerable.Repeat(70_000L, 7), .. Enumerable.Repeat(140_000L, 7)], acknowledged);
        Assert.Equal(2, JournalRecords(ticket.UploadId));
        Assert.InRange(new FileInfo(DataOf(ticket.UploadId)).Length, 140_000, 200_000); // what is written past a sync point may still be buffered
        Assert.Equal(140_000, await staging.GetOffsetAsync(Owner, ticket.UploadId));

        var restarted = NewStaging();
        Assert.Equal(140_000, await restarted.BeginAsync(ticket));
        Assert.Equal(140_000, await restarted.WriteAsync(Owner, ticket.UploadId, 140_000, content.AsMemory(140_000, 5_000)));
        Assert.InRange(new FileInfo(DataOf(ticket.UploadId)).Length, 140_000, 145_000); // the unacknowledged tail was cut off
        await WriteAsync(restarted, ticket, content, 145_000, content.Length);
        Assert.Equal(content.Length, await restarted.AppendAsync(Owner, ticket.UploadId, content.Length, ReadOnlyMemory<byte>.Empty));
        Assert.Equal(content, await Store.ReadAsync(await restarted.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task A_client_resuming_at_the_acknowledged_offset_replaces_the_unacknowledged_bytes()
    {
        var content = Bytes(200_000, 41);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        var garbled = content.ToArray();
        garbled.AsSpan(70_000, 30_000).Fill(0xEE);
        Assert.Equal(70_000, await WriteAsync(staging, ticket, garbled, 0, 100_000)); // a stream that broke, its tail not flushed

        // Its client resumes from the acknowledged offset on a new stream; the old one's next write is refused.
        await WriteAsync(staging, ticket, content, 70_000, 120_000);
        var stale = await Assert.ThrowsAsync<UploadOffsetMismatchException>(() =>
            staging.WriteAsync(Owner, ticket.UploadId, 100_000, garbled.AsMemory(100_000, 10_000)));
        Assert.Equal(70_000, stale.ExpectedOffset);
        await WriteAsync(staging, ticket, content, 120_000, content.Length);
        Assert.Equal(content.Length, await staging.AppendAsync(Owner, ticket.UploadId, content.Length, ReadOnlyMemory<byte>.Empty));

        Assert.Equal(content, await Store.ReadAsync(await staging.CompleteAsync(Owner, ticket.UploadId, Store)));
    }

    [Fact]
    public async Task Completion_hands_the_staged_file_to_the_store_by_rename_and_leaves_no_staging_files()
    {
        var content = Bytes(250_000, 42);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await WriteAsync(staging, ticket, content, 0, content.Length, piece: 50_000);
        await staging.AppendAsync(Owner, ticket.UploadId, content.Length, ReadOnlyMemory<byte>.Empty);
        var store = new AdoptionProbe(Store);

        var reference = await staging.CompleteAsync(Owner, ticket.UploadId, store);

        Assert.Equal(1, store.Adopted);
        string stored = Assert.Single(StoredFiles());
        Assert.Equal(content, File.ReadAllBytes(stored));
        Assert.Equal(content, await Store.ReadAsync(reference));
        Assert.Equal(["ticket.json"], Directory.GetFiles(UploadDirectory(ticket.UploadId)).Select(Path.GetFileName));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_root, ".incoming")));
        Assert.Equal(reference, await NewStaging().CompleteAsync(Owner, ticket.UploadId, store)); // retried after a restart
    }

    [Fact]
    public async Task A_hash_mismatch_leaves_the_store_without_any_file()
    {
        var content = Bytes(150_000, 43);
        var ticket = TicketFor(content);
        var sent = content.ToArray();
        sent[^1] ^= 0x01;
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, sent, 0, sent.Length);
        var store = new AdoptionProbe(Store);

        await Assert.ThrowsAsync<UploadHashMismatchException>(() => staging.CompleteAsync(Owner, ticket.UploadId, store));

        Assert.Equal(0, store.Adopted);
        Assert.Empty(StoredFiles());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_root, ".staging"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_store_that_cannot_adopt_the_file_gets_its_bytes_put()
    {
        var content = Bytes(250_000, 44);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, content.Length, piece: 60_000);
        var store = new AdoptionProbe(Store, canAdopt: false); // as across file systems

        var reference = await staging.CompleteAsync(Owner, ticket.UploadId, store);

        Assert.Equal(1, store.Puts);
        Assert.Equal(content, await Store.ReadAsync(reference));
        Assert.False(await HasStagedBytesAsync());
    }

    [Fact]
    public async Task A_file_adopted_just_before_a_crash_completes_on_retry()
    {
        var content = Bytes(120_000, 45);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, content.Length, piece: 40_000);
        // The rename into the store happened; recording the completion did not.
        string shard = Path.Combine(_root, ticket.Sha256[..2]);
        Directory.CreateDirectory(shard);
        File.Move(DataOf(ticket.UploadId), Path.Combine(shard, ticket.Sha256));

        var restarted = NewStaging();
        Assert.Equal(content.Length, await restarted.BeginAsync(ticket));
        Assert.Equal(ticket.Reference, await restarted.CompleteAsync(Owner, ticket.UploadId, Store));
        Assert.Equal(content, await Store.ReadAsync(ticket.Reference));
        Assert.Equal(["ticket.json"], Directory.GetFiles(UploadDirectory(ticket.UploadId)).Select(Path.GetFileName));
    }
}

[Collection(nameof(RedisServer))]
public sealed class RedisUploadStagingTests(RedisServer redis) : UploadStagingContract
{
    readonly string _prefix = $"test:{Guid.NewGuid():N}:";

    protected override IUploadStaging NewStaging(TimeSpan? idleTtl = null, StagingLimits? limits = null) =>
        new RedisUploadStaging(redis.Connection, Limit, chunkBytes: 65_536, idleTtl, keyPrefix: _prefix + "upload:", limits);

    /// <summary>An upload's hash key ends in <c>}</c>.</summary>
    protected override Task<int> CountUploadsAsync() =>
        Task.FromResult(redis.Connection.GetServers()[0].Keys(pattern: $"{_prefix}upload:*}}").Count());

    protected override Task<bool> HasStagedBytesOfAsync(UploadTicket ticket) =>
        Task.FromResult(redis.Connection.GetServers()[0].Keys(pattern: $"{_prefix}upload:*:{ticket.UploadId}}}*").Any());

    protected override IContentStore Store => new RedisContentStore(redis.Connection, chunkBytes: 65_536, maxBytes: Limit, keyPrefix: _prefix + "update:");

    /// <summary>Chunk keys end in <c>}:n</c>; an upload's hash key ends in <c>}</c>.</summary>
    protected override Task<bool> HasStagedBytesAsync() =>
        Task.FromResult(redis.Connection.GetServers()[0].Keys(pattern: $"{_prefix}upload:*}}:*").Any());

    [Fact]
    public async Task Bytes_are_staged_as_chunk_keys_beside_a_hash_and_all_of_them_expire()
    {
        var content = Bytes(150_000, 22);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, 140_000, piece: 30_000);

        var server = redis.Connection.GetServers()[0];
        var db = redis.Connection.GetDatabase();
        var keys = server.Keys(pattern: $"{_prefix}upload:{{*").Select(k => (string)k!).Order().ToArray();
        Assert.Equal(4, keys.Length);
        string hash = keys[0];
        Assert.Equal([hash + ":0", hash + ":1", hash + ":2"], keys[1..]);
        var lengths = await Task.WhenAll(keys[1..].Select(k => db.StringLengthAsync(k)));
        Assert.Equal(new[] { 65_536L, 65_536L, 140_000L - 2 * 65_536 }, lengths);
        Assert.Equal("140000", (string?)await db.HashGetAsync(hash, "offset"));
        foreach (string key in keys)
            Assert.InRange((await db.KeyTimeToLiveAsync(key))!.Value, TimeSpan.FromMinutes(29), TimeSpan.FromMinutes(60));
        Assert.Equal((long)content.Length, long.Parse(((string)(await db.HashGetAsync(_prefix + "upload:open", hash))!).Split('|')[0]));
    }

    [Fact]
    public async Task Acknowledged_bytes_survive_a_redis_crash_and_restart()
    {
        string data = Directory.CreateTempSubdirectory("redis-aof-").FullName;
        var persistent = new RedisServer { DataDirectory = data };
        await persistent.InitializeAsync();
        try
        {
            var content = Bytes(250_000, 23);
            var ticket = TicketFor(content);
            var staging = new RedisUploadStaging(persistent.Connection, Limit, chunkBytes: 65_536);
            await staging.BeginAsync(ticket);
            await SendAsync(staging, ticket, content, 0, 170_000);

            await persistent.CrashAndRestartAsync();

            var restarted = new RedisUploadStaging(persistent.Connection, Limit, chunkBytes: 65_536);
            var store = new RedisContentStore(persistent.Connection, chunkBytes: 65_536, maxBytes: Limit);
            Assert.Equal(170_000, await restarted.BeginAsync(ticket));
            await SendAsync(restarted, ticket, content, 170_000, content.Length);
            Assert.Equal(content, await store.ReadAsync(await restarted.CompleteAsync(Owner, ticket.UploadId, store)));
        }
        finally
        {
            await persistent.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task An_append_onto_a_vanished_chunk_discards_the_upload()
    {
        var content = Bytes(200_000, 26);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, 150_000);
        await redis.Connection.GetDatabase().KeyDeleteAsync((string)redis.Connection.GetServers()[0].Keys(pattern: $"{_prefix}upload:*}}:2").Single()!);

        var e = await Assert.ThrowsAsync<UploadNotFoundException>(() => SendAsync(staging, ticket, content, 150_000, content.Length));

        Assert.Contains("expired or were evicted", e.Message);
        Assert.False(await HasStagedBytesAsync());
        Assert.Equal(0, await staging.BeginAsync(ticket));
    }

    [Fact]
    public async Task Chunks_whose_time_to_live_would_end_before_the_upload_are_extended()
    {
        // An hour-long idle TTL and a chunk aged (by hand) to 50 minutes left: the next append extends it.
        var content = Bytes(200_000, 24);
        var ticket = TicketFor(content);
        var staging = NewStaging(TimeSpan.FromHours(1));
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, 100_000);
        var db = redis.Connection.GetDatabase();
        string first = (string)redis.Connection.GetServers()[0].Keys(pattern: $"{_prefix}upload:*}}:0").Single()!;
        await db.KeyExpireAsync(first, TimeSpan.FromMinutes(50));

        await SendAsync(staging, ticket, content, 100_000, 150_000);

        Assert.InRange((await db.KeyTimeToLiveAsync(first))!.Value, TimeSpan.FromMinutes(119), TimeSpan.FromMinutes(120));
    }

    [Fact]
    public async Task An_upload_whose_chunk_vanished_is_discarded_rather_than_completed_with_a_hole()
    {
        var content = Bytes(200_000, 25);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, 150_000);
        var db = redis.Connection.GetDatabase();
        await db.KeyDeleteAsync((string)redis.Connection.GetServers()[0].Keys(pattern: $"{_prefix}upload:*}}:1").Single()!); // as eviction would

        await SendAsync(staging, ticket, content, 150_000, content.Length);

        var e = await Assert.ThrowsAsync<UploadNotFoundException>(() => staging.CompleteAsync(Owner, ticket.UploadId, Store));
        Assert.Contains("expired or were evicted", e.Message);
        Assert.False(await HasStagedBytesAsync());
        await Assert.ThrowsAsync<UploadNotFoundException>(() => staging.GetOffsetAsync(Owner, ticket.UploadId));
    }

    [Fact]
    public async Task A_completed_upload_s_chunks_are_renamed_into_the_store_without_being_read_back()
    {
        var content = Bytes(300_000, 27);
        var ticket = TicketFor(content);
        var staging = NewStaging();
        await staging.BeginAsync(ticket);
        await SendAsync(staging, ticket, content, 0, content.Length, piece: 50_000);
        var store = new AdoptionProbe(Store); // a put (which reads the staged bytes back) fails the test

        var reference = await staging.CompleteAsync(Owner, ticket.UploadId, store);

        Assert.Equal(1, store.Adopted);
        Assert.Equal(content, await Store.ReadAsync(reference));
        Assert.False(await HasStagedBytesAsync());
        Assert.Equal(reference, await NewStaging().CompleteAsync(Owner, ticket.UploadId, store)); // retried: already complete
    }

    [Fact]
    public async Task An_upload_that_went_on_in_another_process_is_read_back_and_verified_on_completion()
    {
        var content = Bytes(300_000, 28);
        var ticket = TicketFor(content);
        var first = NewStaging();
        await first.BeginAsync(ticket);
        await SendAsync(first, ticket, content, 0, 100_000);
        var second = NewStaging(); // another silo: it never saw the first 100,000 bytes
        Assert.Equal(100_000, await second.BeginAsync(ticket));
        await SendAsync(second, ticket, content, 100_000, content.Length);
        var store = new AdoptionProbe(Store, mayPut: true);

        var reference = await first.CompleteAsync(Owner, ticket.UploadId, store); // the first saw only its own part

        Assert.Equal((0, 1), (store.Adopted, store.Puts));
        Assert.Equal(content, await Store.ReadAsync(reference));
    }

    [Fact]
    public async Task A_stream_of_a_replaced_upload_cannot_append_even_where_the_replacement_has_reached()
    {
        var content = Bytes(200_000, 29);
        var other = Bytes(100_000, 30);
        var ticket = TicketFor(content);
        var first = NewStaging();
        await first.BeginAsync(ticket);
        await SendAsync(first, ticket, content, 0, 100_000);
        // Another silo drops the upload and begins it again under the same ticket, with other bytes up to the same offset.
        var second = NewStaging();
        await second.AbortAsync(Owner, ticket.UploadId);
        Assert.Equal(0, await second.BeginAsync(ticket));
        await SendAsync(second, ticket, other, 0, other.Length);

        // The first stream's next bytes would line up, but they belong to the upload it began, which is gone: had they been
        // appended, its hash of the bytes it sent would match the ticket while Redis held other bytes.
        await Assert.ThrowsAsync<UploadOffsetMismatchException>(() =>
            first.AppendAsync(Owner, ticket.UploadId, 100_000, content.AsMemory(100_000)));

        await Assert.ThrowsAsync<UploadIncompleteException>(() => first.CompleteAsync(Owner, ticket.UploadId, Store));
        Assert.False(await Store.ContainsAsync(ticket.Reference));
    }
}
