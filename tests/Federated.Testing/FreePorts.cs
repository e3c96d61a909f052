using System.Net;
using System.Net.Sockets;

namespace Federated.Testing;

/// <summary>Ports for servers the tests start.</summary>
public static class FreePorts
{
    // A port the OS picks for a listener comes from the range it also gives outgoing connections (Linux's
    // ip_local_port_range, 32768-60999 by default), so any client socket (a Redis or gRPC client of a test running beside)
    // can take it between the asking and the server's bind: a cluster test failed so, "address already in use". Below that
    // range only a listener takes a port.
    static readonly int s_ephemeralLow = EphemeralLow();
    const int Lowest = 10_000;

    /// <summary>A loopback port free at the time of asking, outside the range outgoing connections draw from where there is one.</summary>
    public static int Loopback()
    {
        if (s_ephemeralLow > Lowest + 1_000)
            for (int attempt = 0; attempt < 100; attempt++)
            {
                int port = Random.Shared.Next(Lowest, s_ephemeralLow);
                if (IsFree(port)) return port;
            }
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    static bool IsFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    static int EphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0; // unknown: the OS picks
        }
    }
}
