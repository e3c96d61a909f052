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
}
