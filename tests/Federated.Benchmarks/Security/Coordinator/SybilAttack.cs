using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 6: 150 Register calls from one address with one token, each on a fresh connection (so a new source port),
/// must be rate-limited after a burst of <see cref="CoordinatorLaunch.RegistrationBurst"/>; and a 512 KiB device name refused.
/// </summary>
static class SybilAttack
{
    const int Registrations = 150;

    public static SecurityAttack Attack => new("sybil", "coordinator",
        $"<= {CoordinatorLaunch.RegistrationBurst} of {Registrations} enrolled, the rest ResourceExhausted; 512 KiB device name InvalidArgument",
        () => OnCoordinator.RunAsync(c => c.FederationAsync(new FederationSpec(Start: false, Clients: 0, Quorum: 1)), RunAsync, TimeSpan.FromSeconds(1), twice: true));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        var huge = new Tally();
        await huge.CallAsync(() => coordinator.NewAgentClient().RegisterAsync(Request(federation.Id, new string('d', 512 << 10))).ResponseAsync);

        var tally = new Tally();
        for (int i = 0; i < Registrations; i++)
            await tally.CallAsync(() => coordinator.NewAgentClient().RegisterAsync(Request(federation.Id, "cpu")).ResponseAsync);

        string observed = $"{Registrations} Register: {tally}; 512 KiB device: {huge}";
        var problems = new List<string>();
        if (tally[StatusCode.OK] > CoordinatorLaunch.RegistrationBurst) problems.Add($"{tally[StatusCode.OK]} enrolled");
        if (tally[StatusCode.OK] + tally[StatusCode.ResourceExhausted] != Registrations) problems.Add("refused otherwise than ResourceExhausted");
        if (!huge.All(StatusCode.InvalidArgument)) problems.Add("512 KiB device name not InvalidArgument");
        return AttackOutcome.RefusedIf(problems.Count == 0, observed, string.Join("; ", problems));
    }

    static RegisterRequest Request(string federation, string device) => new()
    {
        FederationId = federation, EnrollmentToken = CoordinatorLaunch.EnrollmentToken, Device = new DeviceInfo { Device = device },
    };
}
