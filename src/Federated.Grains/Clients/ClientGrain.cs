using System.Security.Cryptography;
using System.Text;
using Federated.Contracts;

namespace Federated.Grains.Clients;

[GenerateSerializer, Alias("fl.ClientState")]
public sealed class ClientState
{
    [Id(0)] public string? FederationId { get; set; }
    [Id(1)] public ClientCapabilities Capabilities { get; set; } = ClientCapabilities.Cpu;
    [Id(2)] public int Rank { get; set; }
    [Id(3)] public double Alpha { get; set; }
    [Id(4)] public DateTime RegisteredAt { get; set; }
    [Id(5)] public string? CredentialSha256 { get; set; }
    /// <summary>SHA-256 of the public key of the client certificate it enrolled with (mutual TLS), or null.</summary>
    [Id(16)] public string? CertificateKeySha256 { get; set; }
}

/// <summary>
/// A participant's identity and hardware; its rank follows from the federation's rank policy. What selection
/// needs (rank, liveness, reputation) lives in its roster shard, so a round never calls 10,000 client grains.
/// </summary>
public sealed class ClientGrain(
    [PersistentState("client", GrainStorage.Name)] IPersistentState<ClientState> state) : Grain, IClientGrain
{
    ClientState S => state.State;
    string Id => this.GetPrimaryKeyString();

    IRosterGrain Roster => GrainFactory.GetGrain<IRosterGrain>(GrainKeys.Roster(S.FederationId!, GrainKeys.RosterShardOf(Id)));

    public Task<ClientView> RegisterAsync(string federationId, ClientCapabilities capabilities) => RegisterAsync(federationId, capabilities, null);

    public Task<ClientView> EnrollAsync(string federationId, ClientCapabilities capabilities, string credentialSha256) =>
        RegisterAsync(federationId, capabilities, credentialSha256);

    public Task<bool> AuthenticateAsync(string credentialSha256) =>
        Task.FromResult(S.CredentialSha256 is { } stored && CryptographicOperations.FixedTimeEquals(
            Encoding.ASCII.GetBytes(stored), Encoding.ASCII.GetBytes(credentialSha256)));

    async Task<ClientView> RegisterAsync(string federationId, ClientCapabilities capabilities, string? credentialSha256)
    {
        if (S.FederationId is { } existing && existing != federationId)
            throw new FederationException(FederationError.FailedPrecondition, $"client '{Id}' is registered with federation '{existing}', not '{federationId}'");
        if (string.IsNullOrWhiteSpace(capabilities.Device) || capabilities.GpuMemoryBytes < 0)
            throw new FederationException(FederationError.InvalidArgument, $"client '{Id}': capabilities need a device and non-negative GPU memory");

        var federation = await GrainFactory.GetGrain<IFederationGrain>(federationId).GetAsync(); // NotFound for an unknown federation
        int rank = federation.Config.RankPolicy.RankFor(capabilities);
        if (S.FederationId is null)
            S.RegisteredAt = DateTime.UtcNow;
        S.FederationId = federationId;
        S.Capabilities = capabilities;
        S.Rank = rank;
        S.Alpha = federation.Config.RankPolicy.AlphaFor(rank);
        if (credentialSha256 is not null) S.CredentialSha256 = credentialSha256;
        await state.WriteStateAsync();
        await Roster.AddAsync(Id, rank);
        return await GetAsync();
    }

    public async Task BindCertificateAsync(string keySha256)
    {
        RequireRegistered();
        if (S.CertificateKeySha256 == keySha256) return;
        if (S.CertificateKeySha256 is not null)
            throw new FederationException(FederationError.FailedPrecondition, $"client '{Id}' is already bound to another certificate key");
        S.CertificateKeySha256 = keySha256;
        await state.WriteStateAsync();
    }

    public Task<string?> GetCertificateBindingAsync() => Task.FromResult(S.CertificateKeySha256);

    public Task HeartbeatAsync()
    {
        RequireRegistered();
        return Roster.TouchAsync(Id);
    }

    public async Task<ClientView> GetAsync()
    {
        RequireRegistered();
        var entry = await Roster.GetAsync(Id);
        return new ClientView(Id, S.FederationId!, S.Capabilities, S.Rank, S.Alpha, S.RegisteredAt,
            entry?.LastSeen ?? S.RegisteredAt,
            entry?.Reputation ?? 0.5, entry?.RoundsIncluded ?? 0, entry?.RoundsExcluded ?? 0);
    }

    void RequireRegistered()
    {
        if (S.FederationId is null)
            throw new FederationException(FederationError.NotFound, $"client '{Id}' is not registered");
    }
}
