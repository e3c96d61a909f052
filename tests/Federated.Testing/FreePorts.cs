using System.Net;
using System.Net.Sockets;

namespace Federated.Testing;

/// <summary>Ports for servers the tests start.</summary>
public static class FreePorts
{
    /// <summary>A loopback port free at the time of asking (the OS picks it; another process could still take it before use).</summary>
    public static int Loopback()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
