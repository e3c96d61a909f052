namespace Federated.Benchmarks.Security.Agent;

/// <summary>The shape of every agent attack: a fresh agent enrolls and polls an unarmed hostile coordinator, then the script is armed and the agent measured.</summary>
static class OnAgent
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(120);

    /// <param name="sandbox">From <see cref="AttackedAgent.NewSandbox"/>, with whatever sentinels the attack placed.</param>
    /// <param name="observe">Runs once the script is armed: watches the agent for the attack's window and judges it.</param>
    public static async Task<(AttackOutcome, Measurement)> RunAsync(string sandbox, HostileScript script, Func<AttackedAgent, Task<AttackOutcome>> observe)
    {
        await using var coordinator = await MaliciousCoordinator.StartAsync(script);
        await using var agent = AttackedAgent.Start(sandbox, coordinator.Address);
        var deadline = DateTime.UtcNow + Startup;
        // Enrolled, model loaded, polling: the agent is idle before the baseline.
        while (script.GetTaskCalls < 2)
        {
            if (agent.HasExited) throw new InvalidOperationException($"fed-agent exited before polling:\n{agent.Tail()}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"fed-agent did not poll within {Startup}:\n{agent.Tail()}");
            await Task.Delay(100);
        }
        await agent.Probe.WaitQuietAsync();
        return await agent.Probe.MeasureAsync(() =>
        {
            script.Armed = true;
            return observe(agent);
        }, TimeSpan.FromSeconds(1));
    }
}
