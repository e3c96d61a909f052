using System.Collections.Concurrent;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Upload streams each client has open on this silo, at most <c>Coordinator:Staging:MaxUploadsPerClient</c>: the staging
/// keeps one upload per client and round, but every open stream still holds a handler and an HTTP/2 stream, so 200
/// concurrent streams from one client are refused here, before any grain or staging work. Two, not one: an agent that
/// resumes after a broken stream may reconnect before this silo has noticed the old stream is gone.
/// </summary>
public sealed class UploadStreams(int perClient)
{
    readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <exception cref="RpcException">ResourceExhausted (a rate limit, so agents retry) when the client has its streams open.</exception>
    public IDisposable Open(string clientId)
    {
        while (true)
        {
            int open = _open.GetOrAdd(clientId, 0);
            if (open >= perClient)
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"rate limit: client '{clientId}' has {open} upload streams open (at most {perClient}); finish or cancel one and retry"));
            if (_open.TryUpdate(clientId, open + 1, open)) return new Lease(this, clientId);
        }
    }

    void Close(string clientId)
    {
        while (true)
        {
            int open = _open[clientId];
            if (open == 1 ? _open.TryRemove(new KeyValuePair<string, int>(clientId, 1)) : _open.TryUpdate(clientId, open - 1, open)) return;
        }
    }

    sealed class Lease(UploadStreams owner, string clientId) : IDisposable
    {
        int _closed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0) owner.Close(clientId);
        }
    }
}
