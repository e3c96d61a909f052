using System.Security.Cryptography;
using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 7: 30,000 GetTask calls from one address, each with a made-up credential for a different client id
/// (<c>c-&lt;16 hex&gt;.&lt;secret&gt;</c>, the real format). They must be refused (Unauthenticated, or ResourceExhausted once
/// the address is rate-limited) before any grain is activated for them. Once the address has spent its failed
/// authentications its connections are closed and new ones closed at accept, so the client fails the rest itself
/// (Unavailable for a reset connection, Internal for one closed before the HTTP/2 handshake).
/// </summary>
static class UnauthenticatedFloodAttack
{
    const int Calls = 30_000, Connections = 8, InFlight = 64;

    public static SecurityAttack Attack => new("unauthenticated-flood", "coordinator", $"{Calls:N0} x Unauthenticated/ResourceExhausted, or connection refused; growth < 100 MiB",
        () => OnCoordinator.RunAsync(c => c.FederationAsync(new FederationSpec(Start: false)), RunAsync, TimeSpan.FromSeconds(2), twice: true));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        var clients = Enumerable.Range(0, Connections).Select(_ => coordinator.NewAgentClient()).ToArray();
        var tally = new Tally();
        int next = -1;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async worker =>
        {
            while (Interlocked.Increment(ref next) < Calls)
            {
                string credential = $"c-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}";
                await tally.CallAsync(() => clients[worker % Connections].GetTaskAsync(new GetTaskRequest(), new Metadata { { "authorization", "Bearer " + credential } }).ResponseAsync);
            }
        }));
        string observed = FormattableString.Invariant($"{tally} in {clock.Elapsed.TotalSeconds:F1} s");
        bool refused = tally[StatusCode.Unauthenticated] + tally[StatusCode.ResourceExhausted] + tally[StatusCode.Unavailable] + tally[StatusCode.Internal] == Calls;
        return AttackOutcome.RefusedIf(refused, observed, "some calls were not refused");
    }
}
