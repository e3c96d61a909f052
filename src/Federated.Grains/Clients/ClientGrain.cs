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
    [Id(6)] public DateTime? RevokedAt { get; set; }
    [Id(7)] public string? RevokedBy { get; set; }
    /// <summary>SHA-256 of the public key of the client certificate it enrolled with (mutual TLS), or null.</summary>
    [Id(16)] public string? CertificateKeySha256 { get; set; }
    /// <summary>When <see cref="CredentialSha256"/> was issued and expires; null in state written before credentials expired (see OnActivateAsync).</summary>
    [Id(17)] public DateTime? CredentialIssuedAt { get; set; }
    [Id(18)] public DateTime? CredentialExpiresAt { get; set; }
    /// <summary>The credential a rotation replaced, valid until <see cref="PreviousValidUntil"/> or the new one's first use.</summary>
    [Id(19)] public string? PreviousCredentialSha256 { get; set; }
    [Id(20)] public DateTime? PreviousValidUntil { get; set; }
}

/// <summary>
/// A participant's identity and hardware; its rank follows from the federation's rank policy. What selection
/// needs (rank, liveness, reputation) lives in its roster shard, so a round never calls 10,000 client grains.
/// A revoked client keeps its record (so its credential is refused as revoked, not unknown) but leaves the roster.
/// Its credential's lifetime and rotation are in ClientGrain.Credential.cs.
/// </summary>
public sealed partial class ClientGrain(
    [PersistentState("client", GrainStorage.Name)] IPersistentState<ClientState> state, CredentialPolicy policy) : Grain, IClientGrain
{
    ClientState S => state.State;
    string Id => this.GetPrimaryKeyString();

    IRosterGrain Roster => GrainFactory.GetGrain<IRosterGrain>(GrainKeys.Roster(S.FederationId!, GrainKeys.RosterShardOf(Id)));

    public Task<ClientView> RegisterAsync(string federationId, ClientCapabilities capabilities) => RegisterAsync(federationId, capabilities, null);

    public Task<ClientView> EnrollAsync(string federationId, ClientCapabilities capabilities, string credentialSha256) =>
        RegisterAsync(federationId, capabilities, credentialSha256);

    public async Task<bool> AuthenticateAsync(string credentialSha256) => await VerifyAsync(credentialSha256) == CredentialStatus.Valid;

    public async Task<ClientView> RevokeAsync(string? revokedBy)
    {
        RequireRegistered();
        if (S.RevokedAt is null)
        {
            S.RevokedAt = DateTime.UtcNow;
            S.RevokedBy = revokedBy;
            await state.WriteStateAsync();
        }
        await Roster.RemoveAsync(Id); // also when a first attempt stopped short of it
        return View(null);
    }

    public async Task<SubmissionReceipt> SubmitAsync(int round, Submission submission)
    {
        RequireActive();
        return await GrainFactory.GetGrain<IRoundGrain>(GrainKeys.Round(S.FederationId!, round)).SubmitAsync(Id, submission);
    }

    async Task<ClientView> RegisterAsync(string federationId, ClientCapabilities capabilities, string? credentialSha256)
    {
        if (S.FederationId is { } existing && existing != federationId)
            throw new FederationException(FederationError.FailedPrecondition, $"client '{Id}' is registered with federation '{existing}', not '{federationId}'");
        if (S.RevokedAt is not null) RequireActive();
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
        if (credentialSha256 is not null) Enroll(credentialSha256);
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
        return S.RevokedAt is null ? Roster.TouchAsync(Id) : Task.CompletedTask;
    }

    public async Task<ClientView> GetAsync()
    {
        RequireRegistered();
        return View(await Roster.GetAsync(Id));
    }

    ClientView View(RosterEntry? entry) => new(Id, S.FederationId!, S.Capabilities, S.Rank, S.Alpha, S.RegisteredAt,
        entry?.LastSeen ?? S.RegisteredAt,
        entry?.Reputation ?? 0.5, entry?.RoundsIncluded ?? 0, entry?.RoundsExcluded ?? 0, S.RevokedAt, S.RevokedBy,
        S.CredentialIssuedAt, S.CredentialExpiresAt);

    void RequireRegistered()
    {
        if (S.FederationId is null)
        {
            DeactivateOnIdle(); // asked about an id that names nobody: keep nothing
            throw new FederationException(FederationError.NotFound, $"client '{Id}' is not registered");
        }
    }

    void RequireActive()
    {
        RequireRegistered();
        if (S.RevokedAt is { } at)
            throw new FederationException(FederationError.Unauthenticated, $"credential revoked: client '{Id}' was revoked at {at:u}");
    }
}
