using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Federated.Contracts;
using Federated.Coordinator.Tests.Api;
using Federated.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>
/// What the participant tests share: federations, operator-issued enrollment tokens (through the admin API), and gRPC
/// channels whose connections leave from a chosen loopback address (127.0.0.0/8 is all local on Linux), so each test's
/// per-address budgets are its own and never spent for the other tests of the shared coordinator.
/// </summary>
sealed class Participants(CoordinatorHost coordinator, IPAddress source) : IDisposable
{
    readonly List<GrpcChannel> _channels = [];

    public static readonly ModelArchitecture Architecture = new(32, 2, 4, 4, 64);

    /// <summary>A connection from <see cref="source"/>; <paramref name="fresh"/>: its own (a new port), not the shared one.</summary>
    public AgentService.AgentServiceClient Agents(bool fresh = false)
    {
        if (fresh || _channels.Count == 0)
        {
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (context, ct) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        socket.Bind(new IPEndPoint(source, 0));
                        await socket.ConnectAsync(context.DnsEndPoint, ct);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            _channels.Add(GrpcChannel.ForAddress(coordinator.GrpcAddress, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true }));
        }
        return new AgentService.AgentServiceClient(_channels[^1]);
    }

    public async Task<string> CreateFederationAsync(int clients = 1)
    {
        string id = CoordinatorHost.NewId("part");
        await coordinator.Grains.GetGrain<IFederationGrain>(id).CreateAsync(FederationConfig.Default("tiny-llama", Architecture) with
        {
            Rounds = 2, ClientsPerRound = clients, Quorum = clients, RankPolicy = RankPolicy.Fixed(4),
        });
        return id;
    }

    /// <summary>Clients in the federation's roster (all its shards).</summary>
    public async Task<int> RosterCountAsync(string federation) =>
        (await Task.WhenAll(Enumerable.Range(0, GrainKeys.RosterShards).Select(i => coordinator.Grains.GetGrain<IRosterGrain>(GrainKeys.Roster(federation, i)).CountAsync()))).Sum();

    /// <summary>POST /api/federations/{id}/tokens; returns the secret and the token's id.</summary>
    public async Task<(string Token, string Id)> CreateTokenAsync(string federation, int uses, string expiresIn = "1h")
    {
        var response = await coordinator.Http.PostAsJsonAsync($"/api/federations/{federation}/tokens", new { uses, expiresIn });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return (body.GetProperty("token").GetString()!, body.GetProperty("details").GetProperty("id").GetString()!);
    }

    public static RegisterRequest Request(string federation, string token, string device = "cpu") =>
        new() { FederationId = federation, EnrollmentToken = token, Device = new DeviceInfo { Device = device } };

    public async Task<(string ClientId, Metadata Auth)> RegisterAsync(string federation, string token)
    {
        var response = await Agents().RegisterAsync(Request(federation, token));
        return (response.ClientId, new Metadata { { "authorization", "Bearer " + response.ClientCredential } });
    }

    public static async Task<RpcException> Refused(StatusCode expected, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(e.StatusCode == expected, $"expected {expected}, got {e.StatusCode}: {e.Status.Detail}");
        return e;
    }

    public void Dispose()
    {
        foreach (var channel in _channels) channel.Dispose();
    }
}
