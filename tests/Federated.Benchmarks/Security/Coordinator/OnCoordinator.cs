namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>The shape of every coordinator attack: a fresh coordinator, a set-up that is not measured, then the measured attack.</summary>
static class OnCoordinator
{
    static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    /// <param name="settle">How long the coordinator is still watched after the attack returns (work it queued, memory it keeps).</param>
    /// <param name="redis">Cluster mode on this Redis; embedded when null.</param>
    public static async Task<(AttackOutcome, Measurement)> RunAsync<T>(Func<AttackedCoordinator, Task<T>> setUp,
        Func<AttackedCoordinator, T, Task<AttackOutcome>> attack, TimeSpan settle, string? redis = null)
    {
        await using var coordinator = await AttackedCoordinator.StartAsync(redis);
        var state = await setUp(coordinator);
        await Task.Delay(Quiet); // what the set-up started (GC, timers) is over before the baseline
        return await coordinator.Probe.MeasureAsync(() => attack(coordinator, state), settle);
    }

    /// <summary>A federation whose first participant has already uploaded a genuine adapter, so the upload path's first-call costs (JIT, pools) are not the attack's.</summary>
    public static async Task<SuiteFederation> WarmFederationAsync(AttackedCoordinator coordinator, FederationSpec spec)
    {
        var federation = await coordinator.FederationAsync(spec);
        var response = await federation.Participants[0].UploadAsync(AttackPayloads.Adapter(spec, seed: 1), "warm-up");
        if (response.UploadStatus != Protocol.V1.UploadStatus.Accepted) throw new InvalidOperationException($"warm-up upload: {response}");
        return federation;
    }
}
