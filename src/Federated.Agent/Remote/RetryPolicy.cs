using System.Net.Http;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Remote;

/// <summary>
/// Retries calls that failed for reasons that pass (coordinator restarting, network down, rate limit) with
/// <see cref="Backoff"/>, indefinitely: an agent outlives a coordinator outage. Anything else (a refusal with a
/// reason: invalid, denied, closed round) is thrown to the caller at once, and so is a failed TLS handshake, as a
/// <see cref="CoordinatorTlsException"/>. With several coordinator addresses (the silos of one cluster), a call that
/// could not reach one is retried at the next, and a failed handshake too, once at each address: one silo's
/// certificate may be wrong (a botched rotation) while the others serve.
/// </summary>
public sealed class RetryPolicy(Backoff backoff, ILogger<RetryPolicy> logger, CoordinatorConnection? connection = null)
{
    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> call, CancellationToken cancellation)
    {
        HashSet<Uri>? handshakesTried = null;
        for (int attempt = 0; ; attempt++)
        {
            var at = connection?.Address;
            try
            {
                return await call(cancellation);
            }
            catch (Exception e) when (CoordinatorTlsException.Find(e) is { } handshake)
            {
                if (at is null || connection!.Failover(at) is not { } other || !(handshakesTried ??= [at]).Add(other))
                    throw new CoordinatorTlsException(at, handshake);
                logger.LogWarning("{Call}: no TLS with {Address} ({Reason}); trying {Next}", what, at, handshake.Message, other);
            }
            catch (Exception e) when (!cancellation.IsCancellationRequested && IsTransient(e))
            {
                var delay = backoff.Delay(attempt);
                // Not for the rate limit: that coordinator answered.
                string next = !IsRateLimit(e) && connection?.Failover(at!) is { } other && other != at ? $" at {other}" : "";
                logger.LogWarning("{Call} failed ({Reason}); retry {Attempt}{At} in {Delay:0.0} s", what, Describe(e), attempt + 1, next, delay.TotalSeconds);
                await Task.Delay(delay, cancellation);
            }
        }
    }

    public Task RunAsync(string what, Func<CancellationToken, Task> call, CancellationToken cancellation) =>
        RunAsync(what, async ct => { await call(ct); return true; }, cancellation);

    /// <summary>Failures that say nothing about the request itself, so the same request may succeed later.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        // A certificate the agent does not trust stays untrusted however often it is asked again.
        _ when CoordinatorTlsException.Find(e) is not null => false,
        RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Aborted } => true,
        // The coordinator's per-client rate limit; other ResourceExhausted refusals (sizes) are permanent.
        RpcException { StatusCode: StatusCode.ResourceExhausted } => IsRateLimit(e),
        // The connection went away mid-call (our own cancellation is excluded by the caller).
        RpcException { StatusCode: StatusCode.Cancelled } => true,
        RpcException { StatusCode: StatusCode.Unknown or StatusCode.Internal } r => IsTransport(r.Status.DebugException),
        HttpRequestException or IOException => true,
        _ => false,
    };

    static bool IsRateLimit(Exception e) =>
        e is RpcException { StatusCode: StatusCode.ResourceExhausted } r && r.Status.Detail.StartsWith("rate limit", StringComparison.Ordinal);

    static bool IsTransport(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is IOException or HttpRequestException or System.Net.Sockets.SocketException) return true;
        return false;
    }

    public static string Describe(Exception e) => e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message;
}
