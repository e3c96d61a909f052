namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>The shape of every coordinator attack: a fresh coordinator, a set-up that is not measured, then the measured attack.</summary>
static class OnCoordinator
{
    /// <param name="settle">How long the coordinator is still watched after the attack returns (work it queued, memory it keeps).</param>
    /// <param name="redis">Cluster mode on this Redis; embedded when null.</param>
    /// <param name="twice">
    /// Run the attack twice on the same coordinator, each time from a source address of its own (so the first run's
    /// address budgets do not refuse the second), and judge the second (<see cref="Measurement.First"/> keeps the first).
    /// For attacks that are thousands of calls, whose first run mostly measures the runtime compiling their paths.
    /// </param>
    public static async Task<(AttackOutcome, Measurement)> RunAsync<T>(Func<AttackedCoordinator, Task<T>> setUp,
        Func<AttackedCoordinator, T, Task<AttackOutcome>> attack, TimeSpan settle, string? redis = null, bool twice = false)
    {
        await using var coordinator = await AttackedCoordinator.StartAsync(redis);
        var state = await setUp(coordinator);
        await coordinator.Probe.WaitQuietAsync(); // what the set-up started is over before the baseline
        if (!twice)
            return await coordinator.Probe.MeasureAsync(() => attack(coordinator, state), settle);
        coordinator.Source = AttackedCoordinator.FirstRunSource;
        var (firstOutcome, first) = await coordinator.Probe.MeasureAsync(() => attack(coordinator, state), settle);
        await coordinator.Probe.WaitQuietAsync();
        coordinator.Source = AttackedCoordinator.SecondRunSource;
        var (outcome, second) = await coordinator.Probe.MeasureAsync(() => attack(coordinator, state), settle);
        return (firstOutcome.Verdict == Verdict.Failed ? firstOutcome with { Why = $"first run: {firstOutcome.Why}" } : outcome, second with { First = first });
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
