using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Federated.Contracts;
using Federated.Coordinator.Hosting;
using Federated.Coordinator.Tests.Api;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Grains;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>
/// Upload staging limits over real gRPC against a real coordinator of the test's own (embedded, directory staging): one
/// open upload per client and round however many a client opens at once, and a global quota in uploads and bytes.
/// </summary>
public sealed class StagingLimitsTests : IAsyncLifetime
{
    const long TwoGiB = 2L << 30;
    readonly CoordinatorHost _coordinator = new()
    {
        ExtraArgs =
        [
            "--Coordinator:AgentCallsPerSecond=1000", // so that all of a flood reaches the staging, not the rate limiter
            // Authentications in flight from one address count against its failure budget until they succeed: 200 at once need room.
            "--Coordinator:FailedAuthenticationsPerMinute=1000",
            "--Coordinator:Staging:MaxUploads=3",
            $"--Coordinator:Staging:MaxBytes={5L << 30}",
        ],
        KeepServicesUntilExit = true, // a second host in this process: see CoordinatorHost
    };
    GrpcChannel _channel = null!;
    AgentService.AgentServiceClient Agents => new(_channel);

    public async Task InitializeAsync()
    {
        await _coordinator.InitializeAsync();
        _channel = GrpcChannel.ForAddress(_coordinator.GrpcAddress);
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        await _coordinator.DisposeAsync();
    }

    sealed record Agent(string ClientId, Metadata Auth, TrainingTask Task);

    /// <summary>A started federation of <paramref name="clients"/> agents, all selected for round 1.</summary>
    async Task<List<Agent>> StartedAsync(int clients)
    {
        string fed = CoordinatorHost.NewId("staging");
        var federation = _coordinator.Grains.GetGrain<IFederationGrain>(fed);
        await federation.CreateAsync(FederationConfig.Default("tiny-llama", new ModelArchitecture(32, 2, 4, 4, 64)) with
        {
            Rounds = 1, ClientsPerRound = clients, Quorum = clients, RankPolicy = RankPolicy.Fixed(4),
        });
        var registered = new List<(string, Metadata)>();
        for (int i = 0; i < clients; i++)
        {
            var r = await Agents.RegisterAsync(new RegisterRequest { FederationId = fed, EnrollmentToken = CoordinatorHost.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" } });
            registered.Add((r.ClientId, new Metadata { { "authorization", "Bearer " + r.ClientCredential } }));
        }
        await federation.StartAsync();
        var agents = new List<Agent>();
        foreach (var (id, auth) in registered)
            agents.Add(new Agent(id, auth, (await Agents.GetTaskAsync(new GetTaskRequest(), auth)).Task));
        return agents;
    }

    /// <summary>Declares <paramref name="size"/> bytes, sends <paramref name="send"/> of them and ends the stream.</summary>
    async Task<UploadUpdateResponse> UploadAsync(Agent agent, string uploadId, long size, byte[] send, string? sha = null)
    {
        using var call = Agents.UploadUpdate(agent.Auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = uploadId, FederationId = agent.Task.FederationId, Round = agent.Task.Round, Sha256 = sha ?? new string('a', 64),
                Size = size, ExampleCount = 10, Rank = agent.Task.Rank,
            },
        });
        try
        {
            for (int at = 0; at < send.Length; at += 64 << 10)
                await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(send, at, Math.Min(64 << 10, send.Length - at)) });
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or System.Net.Http.HttpProtocolException)
        {
            // Refused while sending: the status comes with the response. When the server's reset of the stream arrives
            // before its status, the write fails with HTTP/2's STREAM_CLOSED instead (seen under load in CI).
        }
        return await call.ResponseAsync;
    }

    string StagingRoot => Path.Combine(Path.GetFullPath(_coordinator.App.Services.GetRequiredService<CoordinatorOptions>().DataDirectory), "uploads", ".staging");

    /// <summary>The client's staged uploads: directories under the staging's folder for its owner hash.</summary>
    int StagedUploadsOf(string clientId)
    {
        string owner = Path.Combine(StagingRoot, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(clientId)), 0, 16));
        try { return Directory.Exists(owner) ? Directory.GetDirectories(owner).Length : 0; }
        catch (DirectoryNotFoundException) { return 0; }
    }

    [Fact]
    public async Task Two_hundred_concurrent_uploads_from_one_client_leave_at_most_one_staged_and_the_client_still_uploads_and_resumes()
    {
        var agents = await StartedAsync(clients: 1);
        var agent = agents[0];
        var piece = new byte[64 << 10];
        int maxStaged = 0;
        using var flooding = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!flooding.IsCancellationRequested)
            {
                maxStaged = Math.Max(maxStaged, StagedUploadsOf(agent.ClientId));
                await Task.Delay(1);
            }
        });

        var outcomes = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            // Each declares 2 GiB, the largest update allowed.
            try { outcomes.Add((await UploadAsync(agent, $"flood-{i}", TwoGiB, piece)).Status); }
            catch (RpcException e) { outcomes.Add($"{e.StatusCode}: {e.Status.Detail}"); }
            catch (System.Net.Http.HttpProtocolException e) { outcomes.Add($"HTTP/2: {e.Message}"); }
        })));
        flooding.Cancel();
        await watcher;

        Assert.Equal(1, StagedUploadsOf(agent.ClientId));
        Assert.InRange(maxStaged, 0, 1);
        // Each call either staged its piece (and was replaced by a later one, or is the one left), found itself replaced
        // mid-stream, or was refused at once because the client already had its upload streams open.
        Assert.All(outcomes, o => Assert.True(o == "INCOMPLETE" || (o.StartsWith("NotFound: ") && o.Contains("replaced by a newer upload"))
            || (o.StartsWith("ResourceExhausted: rate limit: ") && o.Contains("upload streams open"))
            // Refused at once while the client was still writing: the server's reset of the stream can arrive before its
            // status, which the client reports as Cancelled or, under load, as an HTTP/2 STREAM_CLOSED.
            || o.StartsWith("Cancelled: ") || ((o.StartsWith("Internal: ") || o.StartsWith("HTTP/2: ")) && o.Contains("STREAM_CLOSED")), o));
        var statuses = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => OffsetOrMissing(agent, $"flood-{i}")));
        Assert.Equal(64 << 10, Assert.Single(statuses, s => s >= 0));

        // The client's real update, interrupted and resumed, replaces the leftover and is accepted.
        byte[] payload;
        using (var adapter = RandomAdapters.Create(ModuleShape.LlamaFamily(32, 2, ["q_proj", "v_proj"]), agent.Task.Rank, agent.Task.LoraAlpha, 7, baseModel: agent.Task.BaseModel))
            payload = AdapterPayload.ToBytes(adapter);
        string sha = Convert.ToHexStringLower(SHA256.HashData(payload));
        int half = payload.Length / 2;
        var partial = await UploadAsync(agent, "r1-real", payload.Length, payload[..half], sha);
        Assert.Equal(UploadStatus.Incomplete, partial.UploadStatus);
        Assert.Equal(1, StagedUploadsOf(agent.ClientId));
        Assert.Equal(-1, await OffsetOrMissing(agent, $"flood-{Array.FindIndex(statuses, s => s >= 0)}")); // replaced by the real one
        var done = await ResumeAsync(agent, "r1-real", payload, half, sha);
        Assert.Equal(UploadStatus.Accepted, done.UploadStatus);
    }

    [Fact]
    public void A_client_may_hold_only_its_allowance_of_upload_streams_and_a_closed_one_frees_its_place()
    {
        var streams = new Federated.Coordinator.Agents.UploadStreams(perClient: 2);
        using var first = streams.Open("c-1");
        var second = streams.Open("c-1");
        var refused = Assert.Throws<RpcException>(() => streams.Open("c-1"));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.StartsWith("rate limit: ", refused.Status.Detail); // agents retry rate limits
        using var other = streams.Open("c-2");                    // per client
        second.Dispose();
        second.Dispose();                                          // closing twice frees one place, not two
        using var again = streams.Open("c-1");
        Assert.Throws<RpcException>(() => streams.Open("c-1"));
    }

    async Task<long> OffsetOrMissing(Agent agent, string uploadId)
    {
        try { return (await Agents.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = uploadId }, agent.Auth)).AcknowledgedOffset; }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound) { return -1; }
    }

    async Task<UploadUpdateResponse> ResumeAsync(Agent agent, string uploadId, byte[] payload, int offset, string sha)
    {
        using var call = Agents.UploadUpdate(agent.Auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest
        {
            Header = new UploadHeader
            {
                UploadId = uploadId, FederationId = agent.Task.FederationId, Round = agent.Task.Round, Sha256 = sha,
                Size = payload.Length, Offset = offset, ExampleCount = 10, Rank = agent.Task.Rank,
            },
        });
        await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = ByteString.CopyFrom(payload, offset, payload.Length - offset) });
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    [Fact]
    public async Task The_global_staging_quota_refuses_uploads_by_count_and_by_bytes_with_resource_exhausted_and_stages_nothing()
    {
        var agents = await StartedAsync(clients: 4);
        var piece = new byte[1000];
        Assert.Equal(UploadStatus.Incomplete, (await UploadAsync(agents[0], "a", TwoGiB, piece)).UploadStatus);
        Assert.Equal(UploadStatus.Incomplete, (await UploadAsync(agents[1], "b", TwoGiB, piece)).UploadStatus);

        // 4 GiB open of 5: another 2 GiB does not fit, 1 GiB does.
        var bytes = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agents[2], "c", TwoGiB, piece));
        Assert.Equal(StatusCode.ResourceExhausted, bytes.StatusCode);
        Assert.Equal($"the coordinator's staging is full: 2 uploads / {4L << 30:N0} bytes open (limits 3 uploads / {5L << 30:N0} bytes); retry later", bytes.Status.Detail);
        Assert.Equal(0, StagedUploadsOf(agents[2].ClientId));
        Assert.Equal(UploadStatus.Incomplete, (await UploadAsync(agents[2], "c", 1L << 30, piece)).UploadStatus);

        // 3 uploads open of 3: even one byte does not fit.
        var count = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(agents[3], "d", 1, [7]));
        Assert.Equal(StatusCode.ResourceExhausted, count.StatusCode);
        Assert.StartsWith("the coordinator's staging is full: 3 uploads / ", count.Status.Detail);
        Assert.Equal(0, StagedUploadsOf(agents[3].ClientId));
        Assert.Equal(3, Directory.GetDirectories(StagingRoot).Sum(d => Directory.GetDirectories(d).Length));
    }
}
