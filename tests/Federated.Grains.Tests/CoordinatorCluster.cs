using Federated.Coordinator.Hosting;
using Federated.Storage;
using Federated.Storage.Tests;
using Orleans.TestingHost;

namespace Federated.Grains.Tests;

/// <summary>
/// A real Orleans cluster (in-process silos) wired exactly as the coordinator host wires it, plus the same
/// update store the silos use, so tests upload payloads as the gRPC service will.
/// </summary>
public sealed class CoordinatorCluster : IAsyncDisposable
{
    CoordinatorCluster(InProcessTestCluster cluster, IUpdateStore store, string? directory)
    {
        Cluster = cluster;
        Store = store;
        _directory = directory;
    }

    readonly string? _directory;
    public InProcessTestCluster Cluster { get; }
    public IGrainFactory Grains => Cluster.Client;
    public IUpdateStore Store { get; }

    /// <summary>Embedded default: grain state in memory, updates in a temporary directory.</summary>
    public static Task<CoordinatorCluster> EmbeddedAsync(int silos = 1)
    {
        string directory = Path.Combine(Path.GetTempPath(), "fed-grains-" + Guid.NewGuid().ToString("N"));
        var options = new CoordinatorOptions { Mode = CoordinatorMode.Embedded, DataDirectory = directory, InMemoryState = true };
        return StartAsync(options, silos, new DirectoryUpdateStore(Path.Combine(directory, "updates")), directory);
    }

    /// <summary>Cluster mode: grain state, reminders and updates in a real redis-server.</summary>
    public static Task<CoordinatorCluster> RedisAsync(RedisServer redis, int silos = 1)
    {
        var options = new CoordinatorOptions { Mode = CoordinatorMode.Cluster, Redis = redis.Configuration };
        return StartAsync(options, silos, new RedisUpdateStore(redis.Connection), null);
    }

    static async Task<CoordinatorCluster> StartAsync(CoordinatorOptions options, int silos, IUpdateStore store, string? directory)
    {
        var builder = new InProcessTestClusterBuilder((short)silos);
        // The test cluster brings its own membership; everything else is the host's wiring.
        builder.ConfigureSilo((_, silo) => silo.AddFederatedCoordinator(options, clustering: false));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new CoordinatorCluster(cluster, store, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        if (_directory is not null && Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }
}

public sealed class EmbeddedCoordinator : IAsyncLifetime
{
    public CoordinatorCluster Coordinator { get; private set; } = null!;
    public async Task InitializeAsync() => Coordinator = await CoordinatorCluster.EmbeddedAsync();
    public async Task DisposeAsync() => await Coordinator.DisposeAsync();
}

public sealed class RedisCoordinator : IAsyncLifetime
{
    readonly RedisServer _redis = new();
    public CoordinatorCluster Coordinator { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await _redis.InitializeAsync();
        Coordinator = await CoordinatorCluster.RedisAsync(_redis);
    }

    public async Task DisposeAsync()
    {
        await Coordinator.DisposeAsync();
        await _redis.DisposeAsync();
    }
}
