using Federated.Contracts;
using Microsoft.Extensions.Logging;

namespace Federated.Grains.Federations;

/// <summary>
/// When a silo becomes active, wakes every running federation's current round: a round's deadline lives in a
/// grain timer, which dies with the process, and the embedded default keeps no persistent reminders. In
/// cluster mode the Redis-backed watchdog reminder would do it too; waking twice is harmless.
/// </summary>
public sealed class RoundRecovery(IGrainFactory grains, ILogger<RoundRecovery> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RoundRecovery), ServiceLifecycleStage.Active, ResumeAsync);

    async Task ResumeAsync(CancellationToken cancellationToken)
    {
        try
        {
            var ids = await grains.GetGrain<IFederationDirectoryGrain>(0).ListAsync();
            await Task.WhenAll(ids.Select(id => grains.GetGrain<IFederationGrain>(id).ResumeAsync()));
            if (ids.Length > 0) logger.LogInformation("Resumed the rounds of {Count} federation(s)", ids.Length);
        }
        catch (Exception e)
        {
            // Never keep a silo from starting: a round also resumes on its next call.
            logger.LogWarning(e, "Could not resume running federations at startup");
        }
    }
}
