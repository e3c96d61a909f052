using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The connection-level half of the failed-authentication budget (<see cref="AddressRateLimits"/>). Refusing each call of
/// a flood still costs HTTP/2 and gRPC framing per call; so when an address spends its budget, its open connections on the
/// agents' endpoint are asked to close (HTTP/2 GOAWAY: calls in flight finish with their refusal) and its new connections
/// are closed at accept, before TLS, until the budget refills. A client then fails its calls locally and backs off.
/// </summary>
public sealed class AgentConnections
{
    readonly AddressRateLimits _limits;
    readonly ILogger<AgentConnections> _logger;
    readonly Dictionary<string, HashSet<ConnectionContext>> _open = new(StringComparer.Ordinal);

    public AgentConnections(AddressRateLimits limits, ILogger<AgentConnections> logger)
    {
        _limits = limits;
        _logger = logger;
        limits.Blocked += Close;
    }

    /// <summary>Kestrel connection middleware for the agents' endpoint.</summary>
    public ConnectionDelegate Gate(ConnectionDelegate next) => async connection =>
    {
        string address = connection.RemoteEndPoint is IPEndPoint remote ? PeerAddress.Of(remote.Address) : "unknown";
        if (_limits.IsBlocked(address))
        {
            connection.Abort(new ConnectionAbortedException($"{address} spent its failed authentications"));
            return;
        }
        lock (_open)
        {
            if (!_open.TryGetValue(address, out var set)) _open[address] = set = [];
            set.Add(connection);
        }
        try { await next(connection); }
        finally
        {
            lock (_open)
            {
                if (_open.TryGetValue(address, out var set) && set.Remove(connection) && set.Count == 0) _open.Remove(address);
            }
        }
    };

    void Close(string address)
    {
        ConnectionContext[] connections;
        lock (_open) connections = _open.TryGetValue(address, out var set) ? [.. set] : [];
        _logger.LogWarning("{Address} spent its failed authentications: closing its {Connections} connections and refusing new ones until the budget refills",
            address, connections.Length);
        foreach (var connection in connections)
            connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
    }
}
