using Federated.Contracts;
using Federated.Coordinator.Agents;
using Federated.Coordinator.Tests.Api;
using Federated.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>What a client may report and how refusals are logged: bounded before anything is logged, summarised when they repeat.</summary>
[Collection(CoordinatorCollection.Name)]
public sealed class MetricsReportTests(CoordinatorHost coordinator) : IDisposable
{
    readonly GrpcChannel _channel = GrpcChannel.ForAddress(coordinator.GrpcAddress);
    Protocol.V1.AgentService.AgentServiceClient Agents => new(_channel);

    public void Dispose() => _channel.Dispose();

    async Task<(string Federation, Metadata Auth)> EnrolledAsync(bool started = false)
    {
        string id = CoordinatorHost.NewId("metrics");
        var config = FederationConfig.Default("tiny-llama", new ModelArchitecture(32, 2, 4, 4, 64)) with { ClientsPerRound = 1, Quorum = 1 };
        await coordinator.Grains.GetGrain<IFederationGrain>(id).CreateAsync(config);
        var response = await Agents.RegisterAsync(new RegisterRequest
        {
            FederationId = id, EnrollmentToken = CoordinatorHost.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
        });
        if (started) await coordinator.Grains.GetGrain<IFederationGrain>(id).StartAsync(); // round 1 selects the one client
        return (id, new Metadata { { "authorization", "Bearer " + response.ClientCredential } });
    }

    [Fact]
    public async Task A_selected_clients_report_is_kept_by_its_round_and_served_with_NaN_as_a_string()
    {
        var (fed, auth) = await EnrolledAsync(started: true);
        var request = new ReportMetricsRequest { FederationId = fed, Round = 1 };
        request.Metrics.Add(new Dictionary<string, double> { ["train_loss"] = 2.5, ["eval_loss"] = 2.7, ["tokens_per_second"] = 1234, ["diverged_loss"] = double.NaN });
        await Agents.ReportMetricsAsync(request, auth);

        var kept = Assert.Single((await coordinator.Grains.GetGrain<IRoundGrain>(GrainKeys.Round(fed, 1)).GetAsync()).ClientMetrics!);
        Assert.Equal(2.7, kept.Metrics["eval_loss"]);
        Assert.True(double.IsNaN(kept.Metrics["diverged_loss"]));
        var served = await coordinator.Http.GetStringAsync($"/api/federations/{fed}/rounds/1");
        Assert.Contains("\"diverged_loss\":\"NaN\"", served);
    }

    [Fact]
    public async Task A_report_for_a_round_that_did_not_select_the_client_is_PermissionDenied()
    {
        var (fed, auth) = await EnrolledAsync();
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Agents.ReportMetricsAsync(new ReportMetricsRequest { FederationId = fed, Round = 1 }, auth));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("has not been opened", e.Status.Detail);
    }

    [Fact]
    public async Task A_report_about_another_federation_is_PermissionDenied()
    {
        var (_, auth) = await EnrolledAsync();
        var (other, _) = await EnrolledAsync();
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Agents.ReportMetricsAsync(new ReportMetricsRequest { FederationId = other, Round = 1 }, auth));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
    }

    [Fact]
    public async Task Repeated_refusals_are_logged_once_per_kind_then_summarised_once_per_window()
    {
        var time = new FakeTimeProvider();
        var logs = new CollectingLogger();
        using var summary = new RefusalSummary(logs, time, TimeSpan.FromMinutes(1));
        var context = new TestContext("/federated.v1.AgentService/GetTask", "ipv4:10.0.0.7:51234");
        for (int i = 0; i < 30_000; i++)
            await Assert.ThrowsAsync<RpcException>(() => summary.UnaryServerHandler<GetTaskRequest, GetTaskResponse>(new GetTaskRequest(), context,
                (_, _) => throw new RpcException(new Status(StatusCode.Unauthenticated, "unknown or revoked credential"))));

        Assert.Single(logs.Lines);
        Assert.Contains("Unauthenticated", logs.Lines[0]);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, logs.Lines.Count);
        Assert.Contains("30000", logs.Lines[1].Replace(",", ""));
        Assert.Contains("from 1 addresses", logs.Lines[1]);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, logs.Lines.Count); // a quiet window says nothing
    }

    [Theory]
    [InlineData("ipv4:10.0.0.7:51234", "10.0.0.7")]
    [InlineData("ipv6:[::1]:5000", "::1")]
    [InlineData("unix:/tmp/socket", "unix:/tmp/socket")]
    public void A_refusal_is_counted_by_the_address_the_rate_limits_key_by(string peer, string address) =>
        Assert.Equal(address, PeerAddress.Of(peer));

    sealed class CollectingLogger : ILogger<RefusalSummary>
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add(formatter(state, exception));
        }
    }

    sealed class TestContext(string method, string peer) : ServerCallContext
    {
        protected override string MethodCore => method;
        protected override string HostCore => "localhost";
        protected override string PeerCore => peer;
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Metadata RequestHeadersCore { get; } = [];
        protected override CancellationToken CancellationTokenCore => CancellationToken.None;
        protected override Metadata ResponseTrailersCore { get; } = [];
        protected override Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore => new(null, []);
        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();
        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
