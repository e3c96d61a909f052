using System.Net;
using Federated.Coordinator.Agents;
using Federated.Coordinator.Tests.Api;
using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Coordinator.Tests.Agents;

/// <summary>RotateCredential over real gRPC on the shared coordinator (default lifetime 30 days, grace 10 minutes).</summary>
[Collection(CoordinatorCollection.Name)]
public sealed class CredentialRotationTests(CoordinatorHost coordinator) : IDisposable
{
    readonly Participants _p = new(coordinator, IPAddress.Parse("127.0.0.61"));

    public void Dispose() => _p.Dispose();

    static Metadata Bearer(string credential) => new() { { "authorization", "Bearer " + credential } };

    async Task<(string ClientId, string Credential, RegisterResponse Registered)> EnrolledAsync()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, _) = await _p.CreateTokenAsync(fed, uses: 1);
        var registered = await _p.Agents().RegisterAsync(Participants.Request(fed, token));
        return (registered.ClientId, registered.ClientCredential, registered);
    }

    static void AssertAbout(DateTimeOffset expected, long unixSeconds) =>
        Assert.InRange(DateTimeOffset.FromUnixTimeSeconds(unixSeconds), expected - TimeSpan.FromMinutes(1), expected + TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Rotated_credential_works_and_the_old_one_stops_after_the_new_one_is_used()
    {
        var (clientId, old, registered) = await EnrolledAsync();
        AssertAbout(DateTimeOffset.UtcNow + TimeSpan.FromDays(30), registered.CredentialExpiresAt);
        var agents = _p.Agents();

        var rotated = await agents.RotateCredentialAsync(new RotateCredentialRequest(), Bearer(old));

        Assert.NotEqual(old, rotated.ClientCredential);
        Assert.True(CredentialFormat.IsIssued(rotated.ClientCredential));
        Assert.StartsWith(clientId + ".", rotated.ClientCredential);
        AssertAbout(DateTimeOffset.UtcNow + TimeSpan.FromDays(30), rotated.CredentialExpiresAt);
        var task = await agents.GetTaskAsync(new GetTaskRequest(), Bearer(rotated.ClientCredential));
        Assert.Equal(rotated.CredentialExpiresAt, task.CredentialExpiresAt);
        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(rotated.ClientCredential));
        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(old)).ResponseAsync);
        Assert.StartsWith("unknown credential", refused.Status.Detail);
        Assert.Null(refused.Trailers.GetValue(CredentialTrailers.Status));
        await Participants.Refused(StatusCode.Unauthenticated, () => agents.RotateCredentialAsync(new RotateCredentialRequest(), Bearer(old)).ResponseAsync);
        var view = await coordinator.Grains.GetGrain<Contracts.IClientGrain>(clientId).GetAsync();
        Assert.Equal(rotated.CredentialExpiresAt, new DateTimeOffset(DateTime.SpecifyKind(view.CredentialExpiresAt!.Value, DateTimeKind.Utc)).ToUnixTimeSeconds());
    }

    [Fact]
    public async Task Old_credential_stays_valid_within_the_grace_until_the_new_one_is_used()
    {
        var (_, old, _) = await EnrolledAsync();
        var agents = _p.Agents();
        var lost = await agents.RotateCredentialAsync(new RotateCredentialRequest(), Bearer(old)); // as if the agent crashed before saving it

        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(old));
        var task = await agents.GetTaskAsync(new GetTaskRequest(), Bearer(old));
        AssertAbout(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(10), task.CredentialExpiresAt); // the grace's end: the agent rotates again
        var saved = await agents.RotateCredentialAsync(new RotateCredentialRequest(), Bearer(old));
        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(old));
        await Participants.Refused(StatusCode.Unauthenticated, () => agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(lost.ClientCredential)).ResponseAsync);

        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(saved.ClientCredential));

        await Participants.Refused(StatusCode.Unauthenticated, () => agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(old)).ResponseAsync);
        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(saved.ClientCredential));
    }

    [Fact]
    public async Task A_revoked_client_cannot_rotate_its_way_back()
    {
        var (clientId, old, _) = await EnrolledAsync();
        var response = await coordinator.Http.PostAsync($"/api/clients/{clientId}/revoke", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => _p.Agents().RotateCredentialAsync(new RotateCredentialRequest(), Bearer(old)).ResponseAsync);

        Assert.Equal(CredentialTrailers.Revoked, refused.Trailers.GetValue(CredentialTrailers.Status));
    }
}

/// <summary>A coordinator of its own whose credentials live 3 s, with a 1 s rotation grace.</summary>
public sealed class ShortLivedCredentials : IAsyncLifetime
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(3), Grace = TimeSpan.FromSeconds(1);

    public CoordinatorHost Coordinator { get; } = new()
    {
        ExtraArgs = [$"--Coordinator:Agents:CredentialLifetime={Lifetime}", $"--Coordinator:Agents:RotationGrace={Grace}"],
        KeepServicesUntilExit = true,
    };

    public Task InitializeAsync() => Coordinator.InitializeAsync();
    public Task DisposeAsync() => Coordinator.DisposeAsync();
}

/// <summary>
/// Expiry and the grace's end over real gRPC, with real (short) time. In the shared coordinator's collection, though on a host of
/// its own, so that this second in-process coordinator never runs beside the tests that measure the process's heap.
/// </summary>
[Collection(CoordinatorCollection.Name)]
public sealed class CredentialExpiryTests(ShortLivedCredentials fixture) : IClassFixture<ShortLivedCredentials>, IDisposable
{
    readonly Participants _p = new(fixture.Coordinator, IPAddress.Parse("127.0.0.62"));

    public void Dispose() => _p.Dispose();

    static Metadata Bearer(string credential) => new() { { "authorization", "Bearer " + credential } };

    async Task<RegisterResponse> EnrollAsync()
    {
        string fed = await _p.CreateFederationAsync();
        var (token, _) = await _p.CreateTokenAsync(fed, uses: 1);
        return await _p.Agents().RegisterAsync(Participants.Request(fed, token));
    }

    [Fact]
    public async Task Expired_credential_is_refused_with_the_expired_trailer()
    {
        var registered = await EnrollAsync();
        var agents = _p.Agents();
        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(registered.ClientCredential));

        await Task.Delay(DateTimeOffset.FromUnixTimeSeconds(registered.CredentialExpiresAt + 1) - DateTimeOffset.UtcNow);

        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(registered.ClientCredential)).ResponseAsync);
        Assert.Equal(CredentialTrailers.Expired, refused.Trailers.GetValue(CredentialTrailers.Status));
        Assert.StartsWith("credential expired", refused.Status.Detail);
        Assert.Contains("enroll again", refused.Status.Detail);
        var rotation = await Participants.Refused(StatusCode.Unauthenticated, () => agents.RotateCredentialAsync(new RotateCredentialRequest(), Bearer(registered.ClientCredential)).ResponseAsync);
        Assert.Equal(CredentialTrailers.Expired, rotation.Trailers.GetValue(CredentialTrailers.Status));
    }

    [Fact]
    public async Task An_unused_rotated_credential_leaves_the_old_one_valid_only_until_the_grace_ends()
    {
        var registered = await EnrollAsync();
        var agents = _p.Agents();
        var rotated = await agents.RotateCredentialAsync(new RotateCredentialRequest(), Bearer(registered.ClientCredential));
        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(registered.ClientCredential));

        await Task.Delay(ShortLivedCredentials.Grace + TimeSpan.FromMilliseconds(200));

        var refused = await Participants.Refused(StatusCode.Unauthenticated, () => agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(registered.ClientCredential)).ResponseAsync);
        Assert.StartsWith("unknown credential", refused.Status.Detail);
        await agents.HeartbeatAsync(new HeartbeatRequest(), Bearer(rotated.ClientCredential));
    }
}
