using System.Security.Cryptography;
using System.Text;
using Federated.Contracts;

namespace Federated.Grains.Enrollment;

[GenerateSerializer, Alias("fl.EnrollmentTokensState")]
public sealed class EnrollmentTokensState
{
    /// <summary>Token id -> the SHA-256 that keys its grain.</summary>
    [Id(0)] public Dictionary<string, string> Tokens { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// A federation's enrollment tokens: issues them (random 256-bit secrets, shown once, stored only as SHA-256), lists and
/// revokes them by id. Register never comes here: it finds a token's grain from the token's hash.
/// </summary>
public sealed class EnrollmentTokensGrain(
    [PersistentState("enrollment-tokens", GrainStorage.Name)] IPersistentState<EnrollmentTokensState> state) : Grain, IEnrollmentTokensGrain
{
    /// <summary>Marks generated tokens (secret scanners, support): "fet_" and 43 base64url characters.</summary>
    public const string Prefix = "fet_";

    string FederationId => this.GetPrimaryKeyString();

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public async Task<IssuedEnrollmentToken> CreateAsync(int maxUses, TimeSpan expiresIn, string? createdBy)
    {
        if (maxUses is < 1 or > EnrollmentTokenLimits.MaxUses)
            throw Invalid($"uses must be between 1 and {EnrollmentTokenLimits.MaxUses:N0}, not {maxUses}");
        if (expiresIn < EnrollmentTokenLimits.MinExpiry || expiresIn > EnrollmentTokenLimits.MaxExpiry)
            throw Invalid($"expiresIn must be between {EnrollmentTokenLimits.MinExpiry.TotalSeconds:0} s and {EnrollmentTokenLimits.MaxExpiry.TotalDays:0} days, not {expiresIn}");
        await GrainFactory.GetGrain<IFederationGrain>(FederationId).GetAsync(); // NotFound for an unknown federation
        if (state.State.Tokens.Count >= EnrollmentTokenLimits.MaxTokensPerFederation)
            await ForgetInactiveAsync();
        if (state.State.Tokens.Count >= EnrollmentTokenLimits.MaxTokensPerFederation)
            throw new FederationException(FederationError.FailedPrecondition,
                $"federation '{FederationId}' already has {EnrollmentTokenLimits.MaxTokensPerFederation:N0} active enrollment tokens: revoke some first");

        string token = Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string hash = Hash(token);
        var now = DateTime.UtcNow;
        var view = new EnrollmentTokenView("t-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), FederationId, maxUses, 0, now, now + expiresIn, createdBy);
        // The token grain first: an index entry never points at nothing.
        await GrainFactory.GetGrain<IEnrollmentTokenGrain>(hash).InitializeAsync(view);
        state.State.Tokens[view.Id] = hash;
        await state.WriteStateAsync();
        return new IssuedEnrollmentToken(token, view);
    }

    public async Task<EnrollmentTokenView[]> ListAsync()
    {
        var views = await Task.WhenAll(state.State.Tokens.Values.Select(h => GrainFactory.GetGrain<IEnrollmentTokenGrain>(h).GetAsync()));
        return views.OfType<EnrollmentTokenView>().OrderByDescending(v => v.CreatedAt).ThenBy(v => v.Id, StringComparer.Ordinal).ToArray();
    }

    public Task<EnrollmentTokenView> RevokeAsync(string tokenId, string? revokedBy) =>
        state.State.Tokens.TryGetValue(tokenId, out var hash)
            ? GrainFactory.GetGrain<IEnrollmentTokenGrain>(hash).RevokeAsync(revokedBy)
            : throw new FederationException(FederationError.NotFound, $"federation '{FederationId}' has no enrollment token '{tokenId}'");

    /// <summary>Drops expired, revoked and used-up tokens from the index (their grains still refuse them).</summary>
    async Task ForgetInactiveAsync()
    {
        var now = DateTime.UtcNow;
        foreach (var (id, hash) in state.State.Tokens.ToArray())
            if (await GrainFactory.GetGrain<IEnrollmentTokenGrain>(hash).GetAsync() is not { } view || view.StatusAt(now) != EnrollmentTokenStatus.Active)
                state.State.Tokens.Remove(id);
        await state.WriteStateAsync();
    }

    FederationException Invalid(string message) => new(FederationError.InvalidArgument, message);
}
