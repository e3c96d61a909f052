using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// Orleans silo-to-silo TLS (<c>Coordinator:Cluster:Tls</c>) between real coordinator processes in cluster mode on a real
/// redis-server: silos with certificates from the cluster's CA form one cluster and serve the same grains; a silo whose
/// certificate comes from another CA finds the cluster in Redis but cannot talk to its silos, and never becomes active.
/// </summary>
public sealed class ClusterTlsTests : IAsyncLifetime
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90), Refusal = TimeSpan.FromSeconds(30);
    readonly RedisServer _redis = new();
    readonly string _dir = Directory.CreateTempSubdirectory("fed-cluster-tls-").FullName;
    readonly string _clusterId = $"cluster-tls-{Guid.NewGuid():N}";
    readonly List<IDisposable> _owned = [];

    sealed record Silo(CoordinatorProcess Process, Uri Http, CoordinatorAdmin Admin);

    public Task InitializeAsync() => _redis.InitializeAsync();

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            try { owned.Dispose(); }
            catch (InvalidOperationException) { /* already gone */ }
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Silos_with_certificates_from_the_cluster_CA_form_a_cluster_and_a_silo_with_a_foreign_certificate_cannot_join()
    {
        using var clusterCa = new TestCertificateAuthority(_dir, "cluster-ca");
        using var foreignCa = new TestCertificateAuthority(_dir, "foreign-ca");
        var first = Start(clusterCa.Issue("silo-0"), clusterCa.Certificate);
        await first.Process.WaitUntilServingAsync(new Uri(first.Http, "/readyz").ToString(), Startup);
        var second = Start(clusterCa.Issue("silo-1"), clusterCa.Certificate);
        await second.Process.WaitUntilServingAsync(new Uri(second.Http, "/readyz").ToString(), Startup);

        // A grain created through one silo is served by the other: the silos talk to each other over TLS.
        await first.Admin.CreateFederationAsync("tls-cluster", new
        {
            baseModel = "tiny-llama", targetModules = new[] { "q_proj" }, rankPolicy = new { cpuRank = 2, tiers = Array.Empty<object>() },
            rounds = 1, clientsPerRound = 1, quorum = 1,
        });
        Assert.Equal("Created", (await second.Admin.GetAsync("/api/federations/tls-cluster"))["status"]!.GetValue<string>());

        // Trusts the cluster's CA but presents a certificate the cluster does not trust: the TLS handshakes fail both ways.
        var intruder = Start(foreignCa.Issue("intruder"), clusterCa.Certificate);
        var deadline = DateTime.UtcNow + Refusal;
        while (DateTime.UtcNow < deadline && !intruder.Process.HasExited)
        {
            Assert.False(await IsReadyAsync(intruder), "a silo with a foreign certificate became an active member:\n" + intruder.Process.Output);
            await Task.Delay(1000);
        }
        Assert.False(await IsReadyAsync(intruder));
        foreach (var silo in new[] { first, second })
        {
            Assert.True(await IsReadyAsync(silo), silo.Process.Output + silo.Process.Error);
            Assert.Equal("Created", (await silo.Admin.GetAsync("/api/federations/tls-cluster"))["status"]!.GetValue<string>());
        }
    }

    Silo Start(ClientCertificateFiles certificate, string ca)
    {
        var (args, http, _) = CoordinatorAdmin.ProcessArgs(
            "--Coordinator:Mode=Cluster", $"--Coordinator:Redis={_redis.Configuration}", "--Coordinator:AdvertisedAddress=127.0.0.1",
            $"--Coordinator:ClusterId={_clusterId}", "--Orleans:ClusterMembership:ProbeTimeout=00:00:01",
            $"--Coordinator:Cluster:Tls:CertificatePath={certificate.Certificate}", $"--Coordinator:Cluster:Tls:KeyPath={certificate.Key}",
            $"--Coordinator:Cluster:Tls:CaPath={ca}");
        var process = CoordinatorProcess.Start(args);
        _owned.Add(process);
        var admin = new CoordinatorAdmin(http);
        _owned.Add(admin);
        return new Silo(process, http, admin);
    }

    static async Task<bool> IsReadyAsync(Silo silo)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try { return (await http.GetAsync(new Uri(silo.Http, "/readyz"))).IsSuccessStatusCode; }
        catch (HttpRequestException) { return false; }
        catch (TaskCanceledException) { return false; }
    }
}
