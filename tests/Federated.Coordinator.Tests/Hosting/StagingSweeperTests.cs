using System.Security.Cryptography;
using Federated.Coordinator.Hosting;
using Federated.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Federated.Contracts;

namespace Federated.Coordinator.Tests.Hosting;

/// <summary>The timer removes abandoned uploads without another upload beginning, from either staging.</summary>
public sealed class StagingSweeperTests
{
    static UploadTicket Ticket(string uploadId, string owner, byte[] content) =>
        new(uploadId, owner, Convert.ToHexStringLower(SHA256.HashData(content)), content.Length, UploadTicket.SlotOf("fed", 1));

    static StagingSweeper Sweeper(IUploadStaging staging, TimeSpan idle, TimeProvider? time = null) =>
        new(staging, new StagingOptions { IdleTimeout = idle }, NullLogger<StagingSweeper>.Instance, time);

    static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(30); !await condition(); await Task.Delay(20))
            Assert.True(DateTime.UtcNow < deadline, what);
    }

    [Fact]
    public async Task An_abandoned_directory_upload_is_removed_by_the_timer_once_idle_past_the_timeout()
    {
        string root = Directory.CreateTempSubdirectory("staging-sweeper-").FullName;
        try
        {
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var staging = new DirectoryUploadStaging(root, idleTtl: TimeSpan.FromMinutes(30), limits: new StagingLimits(MaxUploads: 1), time: time);
            var content = new byte[50_000];
            await staging.BeginAsync(Ticket("abandoned", "client-a", content));
            await staging.AppendAsync("client-a", "abandoned", 0, content.AsMemory(0, 20_000));
            string uploads = Path.Combine(root, ".staging");
            int Staged() => Directory.GetDirectories(uploads).Sum(d => Directory.GetDirectories(d).Length);
            using var sweeper = Sweeper(staging, TimeSpan.FromMinutes(30), time);
            await sweeper.StartAsync(CancellationToken.None);

            time.Advance(TimeSpan.FromMinutes(29)); // ticks, but the upload is not idle long enough
            await Task.Delay(300);
            Assert.Equal(1, Staged());

            time.Advance(TimeSpan.FromMinutes(2));
            await Eventually(() => Task.FromResult(Staged() == 0), "the abandoned upload was not removed");
            await sweeper.StopAsync(CancellationToken.None);
            // Its room in the quota is free again.
            Assert.Equal(0, await staging.BeginAsync(Ticket("next", "client-b", content)));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task An_abandoned_redis_upload_leaves_the_shared_index_and_its_chunks_are_deleted_by_the_timer()
    {
        var redis = new RedisServer();
        await redis.InitializeAsync();
        try
        {
            var idle = TimeSpan.FromSeconds(1);
            var staging = new RedisUploadStaging(redis.Connection, chunkBytes: 16_384, idleTtl: idle, limits: new StagingLimits(MaxUploads: 1));
            var content = new byte[50_000];
            await staging.BeginAsync(Ticket("abandoned", "client-a", content));
            await staging.AppendAsync("client-a", "abandoned", 0, content.AsMemory(0, 40_000));
            var server = redis.Connection.GetServers()[0];
            var db = redis.Connection.GetDatabase();
            Assert.Equal(1, await db.HashLengthAsync("fed:upload:open"));
            Assert.Equal(3, server.Keys(pattern: "fed:upload:{*}:*").Count());
            using var sweeper = Sweeper(staging, idle);
            await sweeper.StartAsync(CancellationToken.None);

            // Only the sweep takes an upload out of the index (and deletes its chunks, which Redis keeps twice the idle time).
            await Eventually(async () => await db.HashLengthAsync("fed:upload:open") == 0, "the abandoned upload stayed in the index");
            Assert.Empty(server.Keys(pattern: "fed:upload:*"));
            await sweeper.StopAsync(CancellationToken.None);
            Assert.Equal(0, await staging.BeginAsync(Ticket("next", "client-b", content)));
        }
        finally
        {
            await redis.DisposeAsync();
        }
    }
}
