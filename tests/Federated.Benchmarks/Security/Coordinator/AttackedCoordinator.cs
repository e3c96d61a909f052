using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.Http.Json;
using Federated.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// A fresh real coordinator (Federated.Coordinator.dll beside the suite) on free loopback ports, configured by
/// <see cref="CoordinatorLaunch"/>: an operator's admin client, agents' channels, and the federation set-up every attack uses.
/// </summary>
sealed class AttackedCoordinator : IAsyncDisposable
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90);
    readonly ChildProcess _process;
    readonly string _data;
    readonly List<GrpcChannel> _channels = [];

    AttackedCoordinator(ChildProcess process, string data, Uri admin, Uri agents)
    {
        (_process, _data, AdminAddress, AgentsAddress) = (process, data, admin, agents);
        Admin = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(60) };
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", CoordinatorLaunch.AdminKey);
    }

    public Uri AdminAddress { get; }
    public Uri AgentsAddress { get; }
    /// <summary>The operator: every request carries the admin key.</summary>
    public HttpClient Admin { get; }
    public ProcessProbe Probe => _process.Probe;
    public IReadOnlyList<string> Output => _process.Lines;

    /// <summary>The coordinator's last error (JSON log in cluster mode, text otherwise), for a report that says why; null when none.</summary>
    public string? LastError() => Output.LastOrDefault(l => l.Contains("\"@l\":\"Error\"", StringComparison.Ordinal) || l.Contains("[ERR]", StringComparison.Ordinal));

    /// <param name="redis">Cluster mode on this Redis; embedded when null.</param>
    /// <param name="clusterId">Cluster mode: coordinators started with the same id are silos of one cluster.</param>
    /// <param name="overrides">More <c>--Section:Key=value</c> settings; they win over the suite's.</param>
    public static async Task<AttackedCoordinator> StartAsync(string? redis = null, string? clusterId = null, IEnumerable<string>? overrides = null)
    {
        string data = Directory.CreateTempSubdirectory("fed-security-coordinator-").FullName;
        var (args, admin, agents) = CoordinatorLaunch.Args(data, redis, clusterId);
        args.AddRange(overrides ?? []);
        // The content root, with appsettings.json, is the working directory.
        var process = ChildProcess.Start("Federated.Coordinator.dll", args, AppContext.BaseDirectory, Benchmarks.Coordinator.CoordinatorRuntime.Environment);
        var coordinator = new AttackedCoordinator(process, data, admin, agents);
        using var probe = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + Startup;
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"the coordinator exited with {process.ExitCode}:\n{process.Tail()}");
            try
            {
                if ((await probe.GetAsync("/readyz")).IsSuccessStatusCode) break;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the coordinator was not ready within {Startup}:\n{process.Tail()}");
            await Task.Delay(200);
        }
        return coordinator;
    }

    /// <summary>Loopback source addresses of an attack run twice (the coordinator listens on 127.0.0.1; all of 127/8 reaches it).</summary>
    public static readonly IPAddress FirstRunSource = IPAddress.Parse("127.0.0.2"), SecondRunSource = IPAddress.Parse("127.0.0.3");

    /// <summary>The address new agent connections come from; the coordinator budgets per source address.</summary>
    public IPAddress Source { get; set; } = IPAddress.Loopback;

    /// <summary>A new connection to the agents' port from <see cref="Source"/> (a fresh HTTP/2 connection, as a new attacker's socket).</summary>
    public AgentService.AgentServiceClient NewAgentClient()
    {
        var source = Source;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellation) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellation);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var channel = GrpcChannel.ForAddress(AgentsAddress, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, HttpHandler = handler });
        lock (_channels) _channels.Add(channel);
        return new AgentService.AgentServiceClient(channel);
    }

    /// <summary>
    /// Creates a federation through the admin API, enrolls <see cref="FederationSpec.Clients"/> agents through Register (each
    /// on its own connection), and, unless told not to, starts it and waits until every agent holds its round-1 task.
    /// </summary>
    public async Task<SuiteFederation> FederationAsync(FederationSpec spec)
    {
        string id = $"sec-{Guid.NewGuid():N}"[..20];
        var created = await Admin.PostAsJsonAsync("/api/federations", new { id, config = spec.Config() });
        if (!created.IsSuccessStatusCode) throw new InvalidOperationException($"create federation: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");
        var participants = new List<Participant>();
        for (int i = 0; i < spec.Clients; i++)
        {
            var client = NewAgentClient();
            var response = await client.RegisterAsync(new RegisterRequest
            {
                FederationId = id, EnrollmentToken = CoordinatorLaunch.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
            });
            participants.Add(new Participant(response.ClientId, client, new Metadata { { "authorization", "Bearer " + response.ClientCredential } }));
        }
        if (!spec.Start) return new SuiteFederation(id, spec, participants);
        var started = await Admin.PostAsync($"/api/federations/{id}/start", null);
        if (!started.IsSuccessStatusCode) throw new InvalidOperationException($"start federation: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
        foreach (var p in participants)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            GetTaskResponse task;
            while ((task = await p.Client.GetTaskAsync(new GetTaskRequest(), p.Auth)).OutcomeCase != GetTaskResponse.OutcomeOneofCase.Task)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"client {p.ClientId} got no task: {task}");
                await Task.Delay(100);
            }
            p.Task = task.Task;
        }
        return new SuiteFederation(id, spec, participants);
    }

    public async ValueTask DisposeAsync()
    {
        lock (_channels) foreach (var channel in _channels) channel.Dispose();
        Admin.Dispose();
        await _process.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>An enrolled agent as the suite drives it: its own connection and credential, and its round-1 task once started.</summary>
sealed class Participant(string clientId, AgentService.AgentServiceClient client, Metadata auth)
{
    public string ClientId => clientId;
    public AgentService.AgentServiceClient Client => client;
    public Metadata Auth => auth;
    public TrainingTask? Task { get; set; }

    /// <summary>Uploads a whole payload in 1 MiB messages; the response, or the RpcException's status.</summary>
    public async Task<UploadUpdateResponse> UploadAsync(byte[] payload, string uploadId, long exampleCount = 10, int? rank = null)
    {
        var task = Task ?? throw new InvalidOperationException("the federation has not started");
        using var call = client.UploadUpdate(auth);
        await call.RequestStream.WriteAsync(new UploadUpdateRequest { Header = Header(payload.Length, AttackPayloads.Sha256(payload), uploadId, exampleCount, rank ?? task.Rank) });
        for (int at = 0; at < payload.Length; at += 1 << 20)
            await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = UnsafeByteOperations.UnsafeWrap(payload.AsMemory(at, Math.Min(1 << 20, payload.Length - at))) });
        await call.RequestStream.CompleteAsync();
        return await call;
    }

    public UploadHeader Header(long size, string sha256, string uploadId, long exampleCount = 10, int? rank = null) => new()
    {
        UploadId = uploadId, FederationId = Task!.FederationId, Round = Task.Round, Sha256 = sha256, Size = size,
        Offset = 0, ExampleCount = exampleCount, Rank = rank ?? Task.Rank,
    };
}

/// <summary>A federation the suite created: its id, how it was configured, and its enrolled agents.</summary>
sealed record SuiteFederation(string Id, FederationSpec Spec, List<Participant> Participants);

/// <summary>
/// What a federation for an attack looks like. The default is small: the tiny Llama preset's shapes (hidden 64, 2 layers),
/// q/v at rank 4, fixed rank, one round that stays open for an hour unless closed (or all selected clients submit).
/// </summary>
sealed record FederationSpec(int Clients = 2, int? Quorum = null, bool Start = true, int Rank = 4, string? Rule = null,
    int Hidden = 64, int Layers = 2, string[]? Targets = null, string Strategy = "flora", int Rounds = 1)
{
    public const string BaseModel = "security-suite-model";
    public string[] TargetModules => Targets ?? ["q_proj", "v_proj"];

    public object Config() => new
    {
        baseModel = BaseModel,
        targetModules = TargetModules,
        rankPolicy = new { cpuRank = Rank, tiers = Array.Empty<object>() },
        aggregation = new { strategy = Strategy, rule = Rule },
        rounds = Rounds, clientsPerRound = Math.Max(1, Clients), quorum = Quorum ?? Math.Max(1, Clients), roundDeadline = "01:00:00", clientTimeout = "01:00:00",
        architecture = new { hiddenSize = Hidden, numHiddenLayers = Layers, numAttentionHeads = 4, numKeyValueHeads = 4, intermediateSize = 4 * Hidden },
    };
}
