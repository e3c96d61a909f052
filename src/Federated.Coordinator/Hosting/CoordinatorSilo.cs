using System.Net;
using Federated.Grains;
using Federated.Grains.Clients;
using Federated.Grains.Federations;
using Federated.Storage;
using Orleans.Configuration;
using StackExchange.Redis;
using Federated.Contracts;

namespace Federated.Coordinator.Hosting;

/// <summary>
/// The one place where the embedded default and cluster mode differ: clustering, grain storage, reminders
/// and the update store. The grains see only <see cref="IContentStore"/> and the storage name.
/// </summary>
public static class CoordinatorSilo
{
    /// <summary>
    /// Orleans' failure detector (<see cref="ClusterMembershipOptions"/>: probe timeout, missed probes, votes) is read from
    /// this section, e.g. <c>Orleans__ClusterMembership__ProbeTimeout=00:00:01</c>: how soon a crashed silo is declared dead
    /// and its grains move. Orleans' defaults when unset.
    /// </summary>
    public const string MembershipSection = "Orleans:ClusterMembership";

    /// <param name="clustering">False when the host supplies membership itself (Orleans' test cluster).</param>
    public static ISiloBuilder AddFederatedCoordinator(this ISiloBuilder silo, CoordinatorOptions options, bool clustering = true)
    {
        options.Validate();
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.Services.AddOptions<ClusterMembershipOptions>().BindConfiguration(MembershipSection);
        if (options.Mode == CoordinatorMode.Cluster)
            UseRedis(silo, options, clustering);
        else
            UseLocalDisk(silo, options, clustering);
        silo.Services.AddMetrics();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, RoundRecovery>();
        silo.Services.AddSingleton<CoordinatorMetrics>();
        silo.Services.AddSingleton(sp => new CredentialPolicy(options.Agents.CredentialLifetime, options.Agents.RotationGrace, sp.GetService<TimeProvider>()));
        silo.Services.AddHostedService(sp => new StagingSweeper(sp.GetRequiredService<IUploadStaging>(), options.Staging,
            sp.GetRequiredService<ILogger<StagingSweeper>>(), sp.GetService<TimeProvider>()));
        return silo;
    }

    static void UseRedis(ISiloBuilder silo, CoordinatorOptions options, bool clustering)
    {
        var redis = ConfigurationOptions.Parse(options.Redis!);
        if (clustering)
        {
            silo.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
            var advertised = options.AdvertisedAddress is { } a ? IPAddress.Parse(a) : null;
            silo.ConfigureEndpoints(advertised ?? FirstNonLoopbackAddress(), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
            silo.UseClusterTls(options.Cluster.Tls); // off unless Coordinator:Cluster:Tls:CertificatePath is set
        }
        silo.AddRedisGrainStorage(GrainStorage.Name, o => o.ConfigurationOptions = redis.Clone());
        silo.UseRedisReminderService(o => o.ConfigurationOptions = redis.Clone());
        // One multiplexer per process, as StackExchange.Redis intends. Its requests carry the uploads' bytes: written into
        // reused 64 KiB blocks, not into ever-doubling arrays from the shared pool, whose misses cost fresh pages.
        silo.Services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var payloads = redis.Clone();
            payloads.RequestBufferPool = new LargeBlockMemoryPool();
            return ConnectionMultiplexer.Connect(payloads);
        });
        silo.Services.AddSingleton<IContentStore>(sp =>
            new RedisContentStore(sp.GetRequiredService<IConnectionMultiplexer>(), maxBytes: options.MaxUpdateBytes));
        silo.Services.AddSingleton<IUploadStaging>(sp =>
            new RedisUploadStaging(sp.GetRequiredService<IConnectionMultiplexer>(), options.MaxUpdateBytes,
                idleTtl: options.Staging.IdleTimeout, limits: options.Staging.Limits));
    }

    static void UseLocalDisk(ISiloBuilder silo, CoordinatorOptions options, bool clustering)
    {
        string root = Path.GetFullPath(options.DataDirectory);
        if (clustering)
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort);
        if (options.InMemoryState)
            silo.AddMemoryGrainStorage(GrainStorage.Name);
        else
            silo.AddFileGrainStorage(GrainStorage.Name, o => o.RootDirectory = Path.Combine(root, "grains"));
        silo.UseInMemoryReminderService();
        silo.Services.AddSingleton<IContentStore>(_ => new DirectoryContentStore(Path.Combine(root, "updates"), options.MaxUpdateBytes));
        silo.Services.AddSingleton<IUploadStaging>(_ => new DirectoryUploadStaging(Path.Combine(root, "uploads"), options.MaxUpdateBytes,
            options.Staging.IdleTimeout, limits: options.Staging.Limits));
    }

    static IPAddress FirstNonLoopbackAddress() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .FirstOrDefault(ip => ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(ip))
        ?? IPAddress.Loopback;
}
