using Federated.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Federated.Contracts;

namespace Federated.Coordinator.Hosting;

/// <summary>Ready when this silo is an active cluster member and the update store answers: then requests can be served.</summary>
sealed class CoordinatorReadinessCheck(IClusterMembershipService membership, ILocalSiloDetails silo, IContentStore store) : IHealthCheck
{
    // A reference nothing is stored under: asking for it exercises the store (Redis round trip, directory lookup).
    static readonly StoredUpdate Probe = new(new string('0', 64), 0);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        if (status != SiloStatus.Active)
            return HealthCheckResult.Unhealthy($"silo {silo.SiloAddress} is {status}, not active");
        try
        {
            await store.ContainsAsync(Probe, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"the update store does not answer: {e.Message}");
        }
        return HealthCheckResult.Healthy($"silo {silo.SiloAddress} active, update store answers");
    }
}
