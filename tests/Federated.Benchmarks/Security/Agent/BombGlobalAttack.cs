using Federated.Protocol.V1;

namespace Federated.Benchmarks.Security.Agent;

/// <summary>
/// Issue 15, items 2 and 8: the global adapter to merge is a ~1 KB top-k compressed payload declaring 1 GiB of factors (the
/// same bomb as the coordinator's, with its true SHA-256 and size, so the download itself succeeds). The agent must refuse
/// it from the header, against its local model's shapes, before allocating, on every retry.
/// </summary>
static class BombGlobalAttack
{
    static readonly TimeSpan Window = TimeSpan.FromSeconds(12);

    public static SecurityAttack Attack => new("agent-bomb-global", "agent", "refused before allocation; agent growth < 100 MiB",
        async () =>
        {
            string sandbox = AttackedAgent.NewSandbox();
            byte[] bomb = AttackPayloads.DecompressionBomb();
            var script = new HostileScript([new AdapterRef { Sha256 = AttackPayloads.Sha256(bomb), Size = bomb.Length }],
                (request, stream, ct) => MaliciousCoordinator.WriteAsync(bomb, bomb.Length, request, stream, ct));
            return await OnAgent.RunAsync(sandbox, script, agent => ObserveAsync(agent, script, bomb.Length));
        });

    static async Task<AttackOutcome> ObserveAsync(AttackedAgent agent, HostileScript script, int size)
    {
        await Task.Delay(Window);
        string observed = $"{size:N0}-byte global: {script.DownloadCalls} downloads; agent: {agent.LastLine("Round not completed") ?? "no round failure logged"}";
        // What matters is the memory: the row's RSS column judges it. Here only that the agent lived through it.
        return AttackOutcome.RefusedIf(!agent.HasExited, observed, "the agent exited");
    }
}
