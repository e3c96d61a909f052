using System.Security.Authentication;
using Federated.Agent.Remote;
using Grpc.Core;

namespace Federated.Agent.Tests.Unit;

public sealed class BackoffTests
{
    [Fact]
    public void The_cap_doubles_from_the_initial_delay_up_to_the_maximum()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60], Enumerable.Range(0, 8).Select(a => backoff.Cap(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(60), backoff.Cap(1000)); // no overflow after many attempts
    }

    [Fact]
    public void Delays_are_jittered_between_half_the_cap_and_the_cap()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new Random(7));
        for (int attempt = 0; attempt < 10; attempt++)
        {
            var delays = Enumerable.Range(0, 200).Select(_ => backoff.Delay(attempt)).ToList();
            var cap = backoff.Cap(attempt);
            Assert.All(delays, d => Assert.InRange(d, cap / 2, cap));
            Assert.True(delays.Distinct().Count() > 100, "jitter spreads agents that failed together");
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_schedule()
    {
        var a = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), new Random(3));
        var b = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), new Random(3));
        Assert.Equal(Enumerable.Range(0, 12).Select(a.Delay), Enumerable.Range(0, 12).Select(b.Delay));
    }

    [Theory]
    [InlineData(StatusCode.Unavailable, "", true)]
    [InlineData(StatusCode.DeadlineExceeded, "", true)]
    [InlineData(StatusCode.ResourceExhausted, "rate limit: at most 50 calls per second per client", true)]
    [InlineData(StatusCode.ResourceExhausted, "the update's 3 GB exceed the limit", false)]
    [InlineData(StatusCode.InvalidArgument, "malformed adapter", false)]
    [InlineData(StatusCode.PermissionDenied, "not selected", false)]
    [InlineData(StatusCode.FailedPrecondition, "round 2 is closed", false)]
    [InlineData(StatusCode.DataLoss, "sha mismatch", false)]
    public void Transient_failures_are_retried_and_refusals_are_not(StatusCode code, string detail, bool transient) =>
        Assert.Equal(transient, RetryPolicy.IsTransient(new RpcException(new Status(code, detail))));

    [Fact]
    public void Transport_errors_are_transient()
    {
        Assert.True(RetryPolicy.IsTransient(new HttpRequestException("connection refused")));
        Assert.True(RetryPolicy.IsTransient(new RpcException(new Status(StatusCode.Internal, "stream reset", new IOException("reset")))));
        Assert.False(RetryPolicy.IsTransient(new RpcException(new Status(StatusCode.Internal, "bug"))));
    }

    /// <summary>What Grpc.Net.Client throws when the coordinator's certificate is refused: the handshake's exception inside.</summary>
    static RpcException UntrustedCertificate() => new(new Status(StatusCode.Internal, "Error starting gRPC call.",
        new HttpRequestException("The SSL connection could not be established, see inner exception.",
            new AuthenticationException("The remote certificate is invalid because of errors in the certificate chain: PartialChain"))));

    [Fact]
    public void A_refused_certificate_is_not_transient_although_it_surfaces_as_a_transport_error() =>
        Assert.False(RetryPolicy.IsTransient(UntrustedCertificate()));

    [Fact]
    public async Task A_refused_certificate_stops_the_call_at_the_first_attempt_with_the_reason_and_the_setting_to_fix()
    {
        var logger = new ListLogger<RetryPolicy>();
        var retry = new RetryPolicy(new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1)), logger);
        int attempts = 0;
        var e = await Assert.ThrowsAsync<CoordinatorTlsException>(() => retry.RunAsync("Register", _ => { attempts++; throw UntrustedCertificate(); }, CancellationToken.None));
        Assert.Equal(1, attempts);
        Assert.Empty(logger.Lines);
        Assert.Contains("certificate chain: PartialChain", e.Message);
        Assert.Contains("Agent:CaCertificate", e.Message);
    }

    static readonly Uri[] TwoSilos = [new("https://silo-a.test:7443"), new("https://silo-b.test:7443")];

    [Fact]
    public async Task A_silo_whose_certificate_is_refused_is_left_for_the_next_at_once()
    {
        var logger = new ListLogger<RetryPolicy>();
        using var connection = new CoordinatorConnection(TwoSilos, caCertificatePath: null);
        var retry = new RetryPolicy(new Backoff(TimeSpan.FromHours(1), TimeSpan.FromHours(1)), logger, connection);
        var tried = new List<Uri>();
        string answer = await retry.RunAsync("Register", _ =>
        {
            tried.Add(connection.Address);
            return connection.Address == TwoSilos[0] ? throw UntrustedCertificate() : Task.FromResult("enrolled");
        }, CancellationToken.None);

        Assert.Equal("enrolled", answer);
        Assert.Equal(TwoSilos, tried); // and no backoff: the hour-long delay would have hung the test
        Assert.Contains(logger.Lines, l => l.Contains("silo-a.test") && l.Contains("PartialChain") && l.Contains("silo-b.test"));
    }

    [Fact]
    public async Task When_every_silo_refuses_the_handshake_the_call_stops_after_trying_each_once()
    {
        using var connection = new CoordinatorConnection(TwoSilos, caCertificatePath: null);
        var retry = new RetryPolicy(new Backoff(TimeSpan.FromHours(1), TimeSpan.FromHours(1)), new ListLogger<RetryPolicy>(), connection);
        var tried = new List<Uri>();
        var e = await Assert.ThrowsAsync<CoordinatorTlsException>(() => retry.RunAsync("Register", _ =>
        {
            tried.Add(connection.Address);
            throw UntrustedCertificate();
        }, CancellationToken.None));

        Assert.Equal(TwoSilos, tried);
        Assert.Contains("silo-b.test", e.Message);
    }
}
