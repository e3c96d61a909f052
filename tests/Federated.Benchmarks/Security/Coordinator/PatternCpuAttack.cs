using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 5: a genuine small adapter whose PEFT config (the payload header's <c>federated.adapter_config</c>) carries
/// 4,000 backtracking rank_pattern regexes (~0.4 MiB of header) that match no module. The cost is modules x patterns, so
/// the federation's model has 48 layers (96 q/v modules; a real 0.5B model has 168 targetable ones).
/// </summary>
static class PatternCpuAttack
{
    static readonly FederationSpec Deep = new(Clients: 3, Layers: 48);

    public static SecurityAttack Attack => new("pattern-cpu", "coordinator", "InvalidArgument (pattern count/length bounded); CPU < 1 s",
        () => OnCoordinator.RunAsync(c => OnCoordinator.WarmFederationAsync(c, Deep), RunAsync, TimeSpan.FromSeconds(1)));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        byte[] payload = AttackPayloads.WithPathologicalPatterns(AttackPayloads.Adapter(federation.Spec, seed: 2));
        var tally = new Tally();
        string? message = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await federation.Participants[1].UploadAsync(payload, "patterns");
            tally.Add(StatusCode.OK);
        }
        catch (RpcException e)
        {
            tally.Add(e.StatusCode);
            message = e.Status.Detail;
        }
        string observed = FormattableString.Invariant($"{payload.Length / 1048576.0:F2} MiB upload: {tally} after {clock.Elapsed.TotalSeconds:F1} s{(message is null ? "" : $" ({BombAttack.Short(message)})")}");
        return AttackOutcome.RefusedIf(tally.All(StatusCode.InvalidArgument), observed, "not refused with InvalidArgument");
    }
}
