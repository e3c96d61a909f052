namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// The control: a coordinator with a started federation and no attacker, watched for as long as the longest attack runs.
/// Its CPU (Orleans timers, the staging sweeper, GC) is part of every attack's figure, so an attack's own cost is its
/// figure minus this one.
/// </summary>
static class IdleControl
{
    static readonly TimeSpan Watch = TimeSpan.FromSeconds(8);

    public static SecurityAttack Attack => new("idle-control", "coordinator", $"no attack, watched {Watch.TotalSeconds:F0} s: what every row includes",
        () => OnCoordinator.RunAsync(c => c.FederationAsync(new FederationSpec(Clients: 3)), async (_, _) =>
        {
            await Task.Delay(Watch);
            return AttackOutcome.Bounded("nothing sent");
        }, TimeSpan.FromSeconds(1)));
}
