using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Logs agent calls the coordinator refused, without letting a flood of them flood the log: the first refusal of each
/// kind (method and status) in a window is logged with its reason, the rest are counted and summarised once per window
/// (how many, of which kinds, from how many addresses). The outermost interceptor, so it sees authentication's refusals too.
/// gRPC's own per-call "Error status code" line is turned down to Warning in configuration for the same reason.
/// </summary>
public sealed class RefusalSummary : Interceptor, IDisposable
{
    /// <summary>Distinct addresses remembered per window: enough to say "from many", bounded whatever arrives.</summary>
    const int MaxAddresses = 1024;
    readonly ILogger<RefusalSummary> _logger;
    readonly TimeSpan _window;
    readonly ITimer _timer;
    readonly object _gate = new();
    Dictionary<(string Method, StatusCode Status), long> _counts = [];
    HashSet<string> _addresses = [];

    public RefusalSummary(ILogger<RefusalSummary> logger, TimeProvider time) : this(logger, time, TimeSpan.FromMinutes(1)) { }

    public RefusalSummary(ILogger<RefusalSummary> logger, TimeProvider time, TimeSpan window)
    {
        _logger = logger;
        _window = window;
        _timer = time.CreateTimer(_ => Flush(), null, window, window);
    }

    void Record(ServerCallContext context, RpcException refusal)
    {
        // Failures of the coordinator itself are not refusals: they are logged where they happen.
        if (refusal.StatusCode is StatusCode.Internal or StatusCode.Unknown or StatusCode.Cancelled or StatusCode.DeadlineExceeded) return;
        string method = context.Method[(context.Method.LastIndexOf('/') + 1)..];
        bool first;
        lock (_gate)
        {
            var key = (method, refusal.StatusCode);
            first = !_counts.ContainsKey(key);
            _counts[key] = _counts.GetValueOrDefault(key) + 1;
            if (_addresses.Count < MaxAddresses) _addresses.Add(PeerAddress.Of(context.Peer));
        }
        if (first)
            _logger.LogInformation("Refused {Method} from {Peer}: {Status} {Reason} (further refusals of this kind are summarised every {Window})",
                method, context.Peer, refusal.StatusCode, refusal.Status.Detail, _window);
    }

    /// <summary>Logs the window's counts, if any, and starts a new window.</summary>
    public void Flush()
    {
        Dictionary<(string Method, StatusCode Status), long> counts;
        HashSet<string> addresses;
        lock (_gate)
        {
            if (_counts.Count == 0) return;
            (counts, _counts) = (_counts, []);
            (addresses, _addresses) = (_addresses, []);
        }
        var kinds = counts.OrderByDescending(c => c.Value).ToDictionary(c => $"{c.Key.Method} {c.Key.Status}", c => c.Value);
        _logger.LogWarning("Refused {Count} agent calls in the last {Window} from {Addresses}{More} addresses: {@Refusals}",
            counts.Values.Sum(), _window, addresses.Count, addresses.Count >= MaxAddresses ? "+" : "", kinds);
    }

    async Task<T> Observe<T>(ServerCallContext context, Func<Task<T>> call)
    {
        try { return await call(); }
        catch (RpcException e) { Record(context, e); throw; }
    }

    async Task Observe(ServerCallContext context, Func<Task> call)
    {
        try { await call(); }
        catch (RpcException e) { Record(context, e); throw; }
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        Observe(context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        Observe(context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Observe(context, () => continuation(request, responseStream, context));

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        Observe(context, () => continuation(requestStream, responseStream, context));

    public void Dispose()
    {
        _timer.Dispose();
        Flush();
    }
}
