using Federated.Contracts;
using Federated.Grains.Clients;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Storage;

namespace Federated.Grains.Tests;

/// <summary>A cluster whose client grains measure credential lifetimes on a clock the tests move: 30 days, 10 minutes' grace.</summary>
public sealed class FakeClockCoordinator : IAsyncLifetime
{
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
    public CredentialPolicy Policy { get; private set; } = null!;
    public CoordinatorCluster Coordinator { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Policy = new CredentialPolicy(TimeSpan.FromDays(30), TimeSpan.FromMinutes(10), Time);
        Coordinator = await CoordinatorCluster.EmbeddedAsync(configure: silo => silo.Services.AddSingleton(Policy));
    }

    public async Task DisposeAsync() => await Coordinator.DisposeAsync();
}

/// <summary>
/// The client grain's credential rules: expiry, rotation with its grace (the new credential's first use or the grace's end,
/// whichever is first), the lost-rotation case, revocation of both, and state written before credentials expired.
/// </summary>
public sealed class CredentialGrainTests(FakeClockCoordinator fixture) : IClassFixture<FakeClockCoordinator>
{
    readonly FederationDriver _driver = new(fixture.Coordinator);
    IGrainFactory Grains => _driver.Grains;
    FakeTimeProvider Time => fixture.Time;
    static readonly TimeSpan Lifetime = TimeSpan.FromDays(30), Grace = TimeSpan.FromMinutes(10);

    static string Hash(string name) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)));

    async Task<IClientGrain> EnrolledAsync(string credential)
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var client = Grains.GetGrain<IClientGrain>("c-" + Guid.NewGuid().ToString("N")[..16]);
        await client.EnrollAsync(fed, ClientCapabilities.Cpu, Hash(credential));
        return client;
    }

    [Fact]
    public async Task A_credential_is_valid_until_its_lifetime_ends_and_then_expired_even_for_rotation()
    {
        var issued = Time.GetUtcNow().UtcDateTime;
        var client = await EnrolledAsync("one");
        Assert.Equal(issued + Lifetime, (await client.GetAsync()).CredentialExpiresAt);

        Time.Advance(Lifetime - TimeSpan.FromSeconds(1));
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("one")));
        Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(CredentialStatus.Expired, await client.VerifyAsync(Hash("one")));
        Assert.Equal(CredentialStatus.Unknown, await client.VerifyAsync(Hash("other")));
        Assert.Null(await client.CredentialExpiryAsync(Hash("one")));
        var e = await Assert.ThrowsAsync<FederationException>(() => client.RotateCredentialAsync(Hash("one"), Hash("two")));
        Assert.Equal(FederationError.Unauthenticated, e.Error);
        Assert.StartsWith("credential expired", e.Message);
    }

    [Fact]
    public async Task A_rotation_gives_a_full_lifetime_and_the_new_credentials_first_use_ends_the_old_one()
    {
        var client = await EnrolledAsync("one");
        Time.Advance(TimeSpan.FromDays(25));

        var expiresAt = await client.RotateCredentialAsync(Hash("one"), Hash("two"));

        Assert.Equal(Time.GetUtcNow().UtcDateTime + Lifetime, expiresAt);
        Assert.Equal(expiresAt, (await client.GetAsync()).CredentialExpiresAt);
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("one"))); // not used yet: both work
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("two")));
        Assert.Equal(CredentialStatus.Unknown, await client.VerifyAsync(Hash("one")));
        Time.Advance(TimeSpan.FromDays(10)); // past the first credential's own expiry
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("two")));
    }

    [Fact]
    public async Task An_unused_new_credential_leaves_the_old_one_valid_until_the_grace_ends()
    {
        var client = await EnrolledAsync("one");
        await client.RotateCredentialAsync(Hash("one"), Hash("two"));
        var graceEnd = Time.GetUtcNow().UtcDateTime + Grace;

        Time.Advance(Grace - TimeSpan.FromSeconds(1));
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("one")));
        Assert.Equal(graceEnd, await client.CredentialExpiryAsync(Hash("one")));
        Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(CredentialStatus.Unknown, await client.VerifyAsync(Hash("one")));
        Assert.Null(await client.CredentialExpiryAsync(Hash("one")));
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("two")));
    }

    [Fact]
    public async Task An_agent_that_lost_its_new_credential_rotates_again_with_the_old_one_but_the_grace_is_not_extended()
    {
        var client = await EnrolledAsync("one");
        await client.RotateCredentialAsync(Hash("one"), Hash("lost"));
        Time.Advance(Grace / 2);

        await client.RotateCredentialAsync(Hash("one"), Hash("three"));

        Assert.Equal(CredentialStatus.Unknown, await client.VerifyAsync(Hash("lost")));
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("one")));
        Time.Advance(Grace / 2);
        Assert.Equal(CredentialStatus.Unknown, await client.VerifyAsync(Hash("one")));
        var e = await Assert.ThrowsAsync<FederationException>(() => client.RotateCredentialAsync(Hash("one"), Hash("four")));
        Assert.Equal(FederationError.Unauthenticated, e.Error);
        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("three")));
    }

    [Fact]
    public async Task A_rotation_keeps_the_certificate_binding_and_revocation_ends_both_credentials()
    {
        var client = await EnrolledAsync("one");
        string key = new('a', 64);
        await client.BindCertificateAsync(key);
        await client.RotateCredentialAsync(Hash("one"), Hash("two"));

        Assert.Equal(key, await client.GetCertificateBindingAsync());
        await client.RevokeAsync("bob");

        Assert.Equal(CredentialStatus.Revoked, await client.VerifyAsync(Hash("one")));
        Assert.Equal(CredentialStatus.Revoked, await client.VerifyAsync(Hash("two")));
        var e = await Assert.ThrowsAsync<FederationException>(() => client.RotateCredentialAsync(Hash("two"), Hash("three")));
        Assert.Equal(FederationError.Unauthenticated, e.Error);
    }

    [Fact]
    public async Task A_credential_stored_before_credentials_expired_counts_as_issued_at_the_first_read_after_the_upgrade()
    {
        string fed = await _driver.CreateAsync(FederationDriver.Config(), clients: 0);
        var client = Grains.GetGrain<IClientGrain>("c-" + Guid.NewGuid().ToString("N")[..16]);
        var storage = fixture.Coordinator.Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(GrainStorage.Name);
        var legacy = new ClientState { FederationId = fed, Capabilities = ClientCapabilities.Cpu, Rank = 4, Alpha = 8, RegisteredAt = DateTime.UtcNow, CredentialSha256 = Hash("old") };
        await storage.WriteStateAsync("client", client.GetGrainId(), new GrainState<ClientState>(legacy));
        Time.Advance(TimeSpan.FromDays(400)); // long after it was issued
        var firstRead = Time.GetUtcNow().UtcDateTime;

        Assert.Equal(CredentialStatus.Valid, await client.VerifyAsync(Hash("old")));

        Assert.Equal(firstRead + Lifetime, (await client.GetAsync()).CredentialExpiresAt);
        Time.Advance(Lifetime);
        Assert.Equal(CredentialStatus.Expired, await client.VerifyAsync(Hash("old")));
    }
}
