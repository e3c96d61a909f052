using Federated.Coordinator.Hosting;
using Federated.Storage;
using Orleans.TestingHost;
using Federated.Contracts;

namespace Federated.Grains.Tests;

/// <summary>
/// A real Orleans cluster (in-process silos) wired exactly as the coordinator host wires it, plus the same
/// update store the silos use, so tests upload payloads as the gRPC service will.
/// </summary>
public sealed class CoordinatorCluster : IAsyncDisposable
{
    CoordinatorCluster(InProcessTestCluster cluster, IContentStore store, string? directory)
    {
        Cluster = cluster;
        Store = store;
        _directory = directory;
    }

    readonly string? _directory; // deleted on dispose: created here
    public InProcessTestCluster Cluster { get; }
    public IGrainFactory Grains => Cluster.Client;
    public IContentStore Store { get; }

    /// <summary>Embedded default: updates in a directory; grain state in memory, or in files next to the updates.</summary>
    /// <param name="directory">An existing data directory to start on (the caller deletes it); default a new temporary one.</param>
    /// <param name="configure">After the host's wiring, e.g. services that replace its own.</param>
    public static Task<CoordinatorCluster> EmbeddedAsync(string? directory = null, bool inMemoryState = true, Action<ISiloBuilder>? configure = null)
    {
        string root = directory ?? Path.Combine(Path.GetTempPath(), "fed-grains-" + Guid.NewGuid().ToString("N"));
        var options = new CoordinatorOptions { Mode = CoordinatorMode.Embedded, DataDirectory = root, InMemoryState = inMemoryState };
        return StartAsync(options, 1, new DirectoryContentStore(Path.Combine(root, "updates")), directory is null ? root : null, configure);
    }

    /// <summary>Cluster mode: grain state, reminders and updates in a real redis-server.</summary>
    /// <param name="configure">After the host's wiring, e.g. services that replace its own.</param>
    public static Task<CoordinatorCluster> RedisAsync(RedisServer redis, int silos = 1, Action<ISiloBuilder>? configure = null)
    {
        var options = new CoordinatorOptions { Mode = CoordinatorMode.Cluster, Redis = redis.Configuration };
        return StartAsync(options, silos, new RedisContentStore(redis.Connection), null, configure);
    }

    static async Task<CoordinatorCluster> StartAsync(CoordinatorOptions options, int silos, IContentStore store, string? directory, Action<ISiloBuilder>? configure = null)
    {
        var builder = new InProcessTestClusterBuilder((short)silos);
        // The test cluster brings its own membership; everything else is the host's wiring.
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddFederatedCoordinator(options, clustering: false);
            configure?.Invoke(silo);
        });
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
