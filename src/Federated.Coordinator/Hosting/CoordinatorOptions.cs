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

    /// <summary>
    /// Bootstrap enrollment tokens, by federation id ("*": any federation); e.g. <c>Coordinator__EnrollmentTokens__fed-a__0=...</c>.
    /// Unlike the tokens operators issue (<c>fed token create</c>: per federation, limited uses, expiring, revocable), these are
    /// reusable and never expire: for a first deployment and tests; leave them empty once operators issue tokens.
    /// </summary>
    public Dictionary<string, string[]> EnrollmentTokens { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// libtorch's intra-op threads. The aggregation already spreads over the cores on .NET threads (updates read and
    /// admitted eight at a time, modules in parallel); libtorch's OpenMP threads beside them oversubscribe the cores and spin
    /// between the many small operations (perf: 83% of a silo's CPU in libgomp while it aggregated 200 updates). 0: libtorch's default.
    /// </summary>
    public int TorchThreads { get; set; } = 1;

    /// <summary>The largest data chunk of an upload stream, in bytes (gRPC's message limit is set just above it).</summary>
    public int MaxChunkBytes { get; set; } = 1 << 20;

    /// <summary>Agent calls per second each client (or, for Register, each peer address) may make, with bursts of twice that.</summary>
    public int AgentCallsPerSecond { get; set; } = 50;

    /// <summary>Agent calls per second one source address (IPv4, or IPv6 /64) may make before any is authenticated, with bursts of twice that.</summary>
    public int AddressCallsPerSecond { get; set; } = 1000;

    /// <summary>Registrations one source address may make per minute (a burst of that many, then evenly).</summary>
    public int RegistrationsPerMinute { get; set; } = 60;

    /// <summary>
    /// Failed authentications (bad credentials, bad enrollment tokens) one source address may have per minute; beyond that,
    /// all its calls are refused (ResourceExhausted) before any lookup until the budget refills.
    /// </summary>
    public int FailedAuthenticationsPerMinute { get; set; } = 30;

    /// <summary>Open uploads: quota and idle timeout (<c>Coordinator:Staging:*</c>).</summary>
    public StagingOptions Staging { get; set; } = new();

    /// <summary>Serve plaintext HTTP on non-loopback addresses (only behind a TLS-terminating proxy or mesh).</summary>
    public bool AllowPlaintextOnNetwork { get; set; }

    /// <summary>Transport security of the agents' endpoint: client certificates (mutual TLS).</summary>
    public Federated.Coordinator.Agents.AgentCertificateOptions Agents { get; set; } = new();

    /// <summary>Transport security between silos: TLS on the silo and gateway ports.</summary>
    public CoordinatorClusterOptions Cluster { get; set; } = new();

    /// <exception cref="InvalidOperationException">A setting is missing or contradicts the mode; the message names it.</exception>
    public void Validate()
    {
        if (Mode == CoordinatorMode.Cluster && string.IsNullOrWhiteSpace(Redis))
            throw new InvalidOperationException($"{Section}:Redis is required in cluster mode (a StackExchange.Redis configuration string such as 'redis:6379')");
        if (Mode == CoordinatorMode.Embedded && string.IsNullOrWhiteSpace(DataDirectory))
            throw new InvalidOperationException($"{Section}:DataDirectory must not be empty in embedded mode");
        if (EnrollmentTokens.Any(t => t.Value is null || t.Value.Any(v => string.IsNullOrWhiteSpace(v) || v.Length is < 16 or > Contracts.EnrollmentTokenLimits.MaxTokenLength)))
            throw new InvalidOperationException($"{Section}:EnrollmentTokens: every token must have 16 to {Contracts.EnrollmentTokenLimits.MaxTokenLength} characters");
        if (MaxChunkBytes is < 1024 or > 64 << 20)
            throw new InvalidOperationException($"{Section}:MaxChunkBytes must be between 1 KiB and 64 MiB, not {MaxChunkBytes}");
        if (AgentCallsPerSecond < 1)
            throw new InvalidOperationException($"{Section}:AgentCallsPerSecond must be at least 1, not {AgentCallsPerSecond}");
        if (AddressCallsPerSecond < 1 || RegistrationsPerMinute < 1 || FailedAuthenticationsPerMinute < 1)
            throw new InvalidOperationException($"{Section}:AddressCallsPerSecond, RegistrationsPerMinute and FailedAuthenticationsPerMinute must be at least 1");
        if (TorchThreads < 0)
            throw new InvalidOperationException($"{Section}:TorchThreads must be 0 (libtorch's default) or more, not {TorchThreads}");
        if (MaxUpdateBytes <= 0)
            throw new InvalidOperationException($"{Section}:MaxUpdateBytes must be positive, not {MaxUpdateBytes}");
        Agents.Validate(Section);
        Cluster.Tls.Validate(Section);
        Staging.Validate(MaxUpdateBytes);
    }
}
