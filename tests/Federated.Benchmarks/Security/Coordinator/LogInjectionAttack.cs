using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 9: a newline in a federation id (Register, ReportMetrics) and in a metric name (ReportMetrics), each followed
/// by a forged log line that starts with a marker. The calls must be refused, and no line of the coordinator's output may
/// start with the marker.
/// </summary>
static class LogInjectionAttack
{
    const string Marker = "FORGED-BY-SECURITY-SUITE";

    public static SecurityAttack Attack => new("log-injection", "coordinator", "InvalidArgument x3; no output line starts with the forged marker",
        () => OnCoordinator.RunAsync(c => c.FederationAsync(new FederationSpec()), RunAsync, TimeSpan.FromSeconds(2)));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        string forged = $"\n{Marker} [INF] Client c-0000000000000000 enrolled in {federation.Id} from ipv4:10.0.0.1:1234: cuda, rank 64";
        var member = federation.Participants[0];
        var tally = new Tally();
        await tally.CallAsync(() => coordinator.NewAgentClient().RegisterAsync(new RegisterRequest
        {
            FederationId = federation.Id + forged, EnrollmentToken = CoordinatorLaunch.EnrollmentToken, Device = new DeviceInfo { Device = "cpu" },
        }).ResponseAsync);
        var badName = new ReportMetricsRequest { FederationId = federation.Id, Round = 1 };
        badName.Metrics.Add("train_loss" + forged, 0.5);
        await tally.CallAsync(() => member.Client.ReportMetricsAsync(badName, member.Auth).ResponseAsync);
        var badFederation = new ReportMetricsRequest { FederationId = federation.Id + forged, Round = 1 };
        badFederation.Metrics.Add("train_loss", 0.5);
        await tally.CallAsync(() => member.Client.ReportMetricsAsync(badFederation, member.Auth).ResponseAsync);

        await Task.Delay(1000); // the log is written asynchronously
        int forgedLines = coordinator.Output.Count(l => l.StartsWith(Marker, StringComparison.Ordinal));
        string observed = $"{tally}; forged lines in the log: {forgedLines}";
        var problems = new List<string>();
        if (!tally.All(StatusCode.InvalidArgument)) problems.Add("not every call refused with InvalidArgument");
        if (forgedLines > 0) problems.Add($"{forgedLines} forged log line(s)");
        return AttackOutcome.RefusedIf(problems.Count == 0, observed, string.Join("; ", problems));
    }
}
