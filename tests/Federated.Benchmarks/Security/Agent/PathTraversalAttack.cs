using System.Text;
using Federated.Protocol.V1;

namespace Federated.Benchmarks.Security.Agent;

/// <summary>
/// Issue 15, item 8: the task's history names adapters by "SHA-256" <c>../../x</c> and by an absolute path, both pointing out
/// of the agent's state directory, where sentinel files wait at the names the agent would append to (<c>.partial</c>). No file
/// outside the state directory may be created, appended to or deleted.
/// </summary>
static class PathTraversalAttack
{
    static readonly TimeSpan Window = TimeSpan.FromSeconds(8);
    static readonly byte[] Served = Encoding.ASCII.GetBytes("hostile-payload!");

    public static SecurityAttack Attack => new("agent-path-traversal", "agent", "task refused; no file outside the state dir created/appended/deleted",
        async () =>
        {
            string sandbox = AttackedAgent.NewSandbox();
            // state/adapters/../../x -> work/x; the agent appends to <name>.safetensors.partial.
            string relativeSentinel = Path.Combine(sandbox, "work", "x.safetensors.partial");
            string absolute = Path.Combine(Directory.CreateDirectory(Path.Combine(sandbox, "outside")).FullName, "abs");
            File.WriteAllText(relativeSentinel, "sentinel\n");
            File.WriteAllText(absolute + ".safetensors.partial", "sentinel\n");
            var script = new HostileScript(
                [new AdapterRef { Sha256 = "../../x", Size = Served.Length }, new AdapterRef { Sha256 = absolute, Size = Served.Length }],
                (request, stream, ct) => MaliciousCoordinator.WriteAsync(Served, Served.Length, request, stream, ct));
            return await OnAgent.RunAsync(sandbox, script, agent => ObserveAsync(agent, script));
        });

    static async Task<AttackOutcome> ObserveAsync(AttackedAgent agent, HostileScript script)
    {
        var before = agent.FilesOutsideState();
        await Task.Delay(Window);
        var after = agent.FilesOutsideState();
        int created = after.Keys.Except(before.Keys).Count(), deleted = before.Keys.Except(after.Keys).Count();
        int changed = before.Keys.Intersect(after.Keys).Count(k => before[k] != after[k]);
        string observed = $"{script.DownloadCalls} downloads asked; outside the state dir: {created} created, {changed} changed, {deleted} deleted; agent: {agent.LastLine("Round not completed") ?? "no round failure logged"}";
        return AttackOutcome.RefusedIf(created + changed + deleted == 0 && !agent.HasExited, observed,
            agent.HasExited ? "the agent exited" : "files outside the state dir were touched");
    }
}
