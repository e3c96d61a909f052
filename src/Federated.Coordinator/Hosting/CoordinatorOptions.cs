namespace Federated.Coordinator.Hosting;

/// <summary>Where the coordinator keeps its state: one process on local disk, or a cluster of silos sharing Redis.</summary>
public enum CoordinatorMode { Embedded, Cluster }

/// <summary>The <c>Coordinator</c> configuration section (appsettings.json, <c>Coordinator__Mode</c>, <c>--Coordinator:Mode</c>).</summary>
public sealed class CoordinatorOptions
{
    public const string Section = "Coordinator";

    /// <summary>Embedded: localhost clustering, grain state and updates under <see cref="DataDirectory"/>. Cluster: Redis for all of it.</summary>
    public CoordinatorMode Mode { get; set; } = CoordinatorMode.Embedded;

    /// <summary>StackExchange.Redis configuration string (cluster mode), e.g. <c>redis:6379,password=...</c>.</summary>
    public string? Redis { get; set; }

    /// <summary>Embedded mode: the update store and grain state live here.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Embedded mode: keep grain state in memory only (simulations, tests) instead of files under <see cref="DataDirectory"/>.</summary>
    public bool InMemoryState { get; set; }

    /// <summary>Orleans cluster and service ids: silos with the same pair form one cluster.</summary>
    public string ClusterId { get; set; } = "federated";
    public string ServiceId { get; set; } = "federated";

    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Address other silos reach this one at (cluster mode; e.g. the pod IP). Default: the first non-loopback address.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>The largest update payload accepted, in bytes.</summary>
    public long MaxUpdateBytes { get; set; } = 2L << 30;

    /// <exception cref="InvalidOperationException">A setting is missing or contradicts the mode; the message names it.</exception>
    public void Validate()
    {
        if (Mode == CoordinatorMode.Cluster && string.IsNullOrWhiteSpace(Redis))
            throw new InvalidOperationException($"{Section}:Redis is required in cluster mode (a StackExchange.Redis configuration string such as 'redis:6379')");
        if (Mode == CoordinatorMode.Embedded && string.IsNullOrWhiteSpace(DataDirectory))
            throw new InvalidOperationException($"{Section}:DataDirectory must not be empty in embedded mode");
        if (MaxUpdateBytes <= 0)
            throw new InvalidOperationException($"{Section}:MaxUpdateBytes must be positive, not {MaxUpdateBytes}");
    }
}
