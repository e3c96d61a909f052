using Federated.Contracts;

namespace Federated.Storage.Tests;

/// <summary>What every upload staging promises about the uploads it holds open at once (<see cref="StagingLimits"/>).</summary>
public abstract partial class UploadStagingContract
{
    const string Slot = "fed-a/3";

    static UploadTicket InSlot(byte[] content, string uploadId, string owner = Owner, string? slot = Slot) =>
        TicketFor(content, uploadId, owner) with { Slot = slot };

    [Fact]
    public async Task A_new_upload_id_in_the_same_slot_replaces_the_owners_open_upload_and_no_one_elses()
    {
        var staging = NewStaging();
        var first = Bytes(50_000, 31);
        var retrained = Bytes(60_000, 32);
        await staging.BeginAsync(InSlot(first, "r3-first"));
        await SendAsync(staging, InSlot(first, "r3-first"), first, 0, 20_000);
        await staging.BeginAsync(InSlot(first, "theirs", owner: "client-8"));
        await staging.BeginAsync(InSlot(first, "other-round", slot: "fed-a/4"));

        Assert.Equal(0, await staging.BeginAsync(InSlot(retrained, "r3-retrained")));

        var gone = await Assert.ThrowsAsync<UploadNotFoundException>(() => SendAsync(staging, InSlot(first, "r3-first"), first, 20_000, 30_000));
        Assert.Contains("replaced by a newer upload", gone.Message);
        Assert.Equal(0, await staging.GetOffsetAsync("client-8", "theirs"));
        Assert.Equal(0, await staging.GetOffsetAsync(Owner, "other-round"));
        Assert.Equal(3, await CountUploadsAsync());
        // The replacement is an ordinary upload: it completes.
        await SendAsync(staging, InSlot(retrained, "r3-retrained"), retrained, 0, retrained.Length);
        Assert.Equal(retrained, await Store.ReadAsync(await staging.CompleteAsync(Owner, "r3-retrained", Store)));
    }

    [Fact]
    public async Task Two_hundred_concurrent_begins_in_one_slot_leave_one_upload_staged()
    {
        var staging = NewStaging();
        var content = Bytes(1000, 33);
        var begins = Enumerable.Range(0, 200).Select(i => Task.Run(() => staging.BeginAsync(InSlot(content, $"flood-{i}"))));

        await Task.WhenAll(begins);

        Assert.Equal(1, await CountUploadsAsync());
    }

    [Fact]
    public async Task Beyond_the_per_owner_limit_beginning_another_slot_replaces_the_owners_oldest_upload()
    {
        var staging = NewStaging(limits: new StagingLimits(MaxUploadsPerOwner: 2));
        var content = Bytes(1000, 34);
        foreach (int round in new[] { 1, 2, 3 })
            await staging.BeginAsync(InSlot(content, $"r{round}", slot: $"fed-a/{round}"));

        await Assert.ThrowsAsync<UploadNotFoundException>(() => staging.GetOffsetAsync(Owner, "r1"));
        Assert.Equal(0, await staging.GetOffsetAsync(Owner, "r2"));
        Assert.Equal(0, await staging.GetOffsetAsync(Owner, "r3"));
        Assert.Equal(2, await CountUploadsAsync());
    }

    [Fact]
    public async Task The_global_count_limit_refuses_a_begin_and_stages_nothing_until_an_upload_completes()
    {
        var staging = NewStaging(limits: new StagingLimits(MaxUploads: 2));
        var content = Bytes(10_000, 35);
        await staging.BeginAsync(InSlot(content, "a", owner: "client-a"));
        await staging.BeginAsync(InSlot(content, "b", owner: "client-b"));

        var full = await Assert.ThrowsAsync<StagingFullException>(() => staging.BeginAsync(InSlot(content, "c", owner: "client-c")));

        Assert.Equal("the coordinator's staging is full: 2 uploads / 20,000 bytes open (limits 2 uploads / 9,223,372,036,854,775,807 bytes); retry later", full.Message);
        Assert.Equal(2, await CountUploadsAsync());
        await Assert.ThrowsAsync<UploadNotFoundException>(() => staging.GetOffsetAsync("client-c", "c"));
        // A completed upload is no longer open: its room is free again.
        await SendAsync(staging, InSlot(content, "a", owner: "client-a"), content, 0, content.Length);
        await staging.CompleteAsync("client-a", "a", Store);
        Assert.Equal(0, await staging.BeginAsync(InSlot(content, "c", owner: "client-c")));
    }

    [Fact]
    public async Task The_global_byte_limit_refuses_a_begin_by_declared_size_and_stages_nothing()
    {
        var staging = NewStaging(limits: new StagingLimits(MaxBytes: 300_000));
        var big = Bytes(200_000, 36);
        var small = Bytes(100_000, 37);
        await staging.BeginAsync(InSlot(big, "big", owner: "client-a"));

        var full = await Assert.ThrowsAsync<StagingFullException>(() => staging.BeginAsync(InSlot(big, "big", owner: "client-b")));

        Assert.Equal(200_000, full.Bytes);
        Assert.Equal(1, await CountUploadsAsync());
        Assert.Equal(0, await staging.BeginAsync(InSlot(small, "small", owner: "client-b"))); // exactly at the limit
        // Replacing one's own upload frees its bytes first: a full staging does not block a client's retraining.
        Assert.Equal(0, await staging.BeginAsync(InSlot(Bytes(200_000, 38), "big-2", owner: "client-a")));
        Assert.Equal(2, await CountUploadsAsync());
    }

    [Fact]
    public async Task A_restarted_staging_still_counts_the_uploads_left_open()
    {
        var content = Bytes(10_000, 39);
        await NewStaging().BeginAsync(InSlot(content, "a", owner: "client-a"));

        var restarted = NewStaging(limits: new StagingLimits(MaxUploads: 1));

        await Assert.ThrowsAsync<StagingFullException>(() => restarted.BeginAsync(InSlot(content, "b", owner: "client-b")));
        Assert.Equal(0, await restarted.BeginAsync(InSlot(content, "a2", owner: "client-a"))); // replaces its own
    }

    [Fact]
    public async Task A_sweep_removes_uploads_idle_past_their_time_to_live_and_frees_their_room()
    {
        var staging = NewStaging(TimeSpan.FromMilliseconds(1500), new StagingLimits(MaxUploads: 2));
        var content = Bytes(100_000, 40);
        var idle = InSlot(content, "idle", owner: "client-a");
        var active = InSlot(content, "active", owner: "client-b");
        await staging.BeginAsync(idle);
        await staging.BeginAsync(active);
        await SendAsync(staging, idle, content, 0, 70_000);
        for (int offset = 0; offset < 50_000; offset += 10_000)
        {
            await Task.Delay(400);
            await SendAsync(staging, active, content, offset, offset + 10_000);
        }

        Assert.Equal(1, await staging.SweepAsync());

        Assert.Equal(1, await CountUploadsAsync());
        Assert.False(await HasStagedBytesOfAsync(idle));
        Assert.Equal(50_000, await staging.GetOffsetAsync("client-b", "active"));
        Assert.Equal(0, await staging.BeginAsync(InSlot(content, "c", owner: "client-c")));
    }

    /// <summary>Whether any of the upload's payload bytes are still staged.</summary>
    protected abstract Task<bool> HasStagedBytesOfAsync(UploadTicket ticket);
}
