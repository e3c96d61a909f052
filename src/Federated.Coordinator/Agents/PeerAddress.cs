using System.Net;
using System.Net.Sockets;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The source address a rate limit is keyed by: the IP of gRPC's peer string without the port (a fresh connection gets a
/// fresh port, the same address), IPv4-mapped IPv6 as IPv4, and IPv6 by its /64 (one host usually holds a whole /64).
/// </summary>
public static class PeerAddress
{
    /// <param name="peer">gRPC's <c>ServerCallContext.Peer</c>: <c>ipv4:127.0.0.1:54321</c>, <c>ipv6:[::1]:5000</c>, <c>unix:/path</c>.</param>
    public static string Of(string? peer)
    {
        if (string.IsNullOrEmpty(peer)) return "unknown";
        string? host = null;
        if (peer.StartsWith("ipv4:", StringComparison.Ordinal))
        {
            int colon = peer.LastIndexOf(':');
            host = colon > 5 ? peer[5..colon] : peer[5..];
        }
        else if (peer.StartsWith("ipv6:", StringComparison.Ordinal))
        {
            int open = peer.IndexOf('['), close = peer.IndexOf(']');
            host = open >= 0 && close > open ? peer[(open + 1)..close] : peer[5..];
        }
        if (host is null || !IPAddress.TryParse(host, out var ip))
            return peer.Length <= 128 ? peer : peer[..128];
        return Of(ip);
    }

    /// <summary>The same key for a connection's remote address, as Kestrel reports it at accept.</summary>
    public static string Of(IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        if (ip.AddressFamily == AddressFamily.InterNetworkV6 && !IPAddress.IsLoopback(ip))
        {
            var bytes = ip.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes) + "/64";
        }
        return ip.ToString();
    }
}
