using Federated.Contracts;

namespace Federated.Grains.Enrollment;

[GenerateSerializer, Alias("fl.EnrollmentTokenState")]
public sealed class EnrollmentTokenState
{
    [Id(0)] public EnrollmentTokenView? Token { get; set; }
}

/// <summary>
/// One enrollment token, keyed by its secret's SHA-256. A grain handles one call at a time, so taking a use is atomic:
/// the count is persisted before Register hears it may go on, and two agents never share the last use.
/// </summary>
public sealed class EnrollmentTokenGrain(
    [PersistentState("enrollment-token", GrainStorage.Name)] IPersistentState<EnrollmentTokenState> state) : Grain, IEnrollmentTokenGrain
{
    EnrollmentTokenView? Token => state.State.Token;

    public async Task InitializeAsync(EnrollmentTokenView token)
    {
        if (Token is not null)
            throw new FederationException(FederationError.AlreadyExists, $"enrollment token '{Token.Id}' already exists");
        state.State.Token = token;
        await state.WriteStateAsync();
    }

    public async Task<EnrollmentCheck> ConsumeAsync(string federationId)
    {
        if (Token is not { } token)
        {
            DeactivateOnIdle(); // a made-up token: keep nothing in memory for it
            return new EnrollmentCheck(EnrollmentOutcome.Unknown, null);
        }
        if (token.FederationId != federationId)
            return new EnrollmentCheck(EnrollmentOutcome.OtherFederation, token);
        var outcome = token.StatusAt(DateTime.UtcNow) switch
        {
            EnrollmentTokenStatus.Revoked => EnrollmentOutcome.Revoked,
            EnrollmentTokenStatus.Expired => EnrollmentOutcome.Expired,
            EnrollmentTokenStatus.UsedUp => EnrollmentOutcome.UsedUp,
            _ => EnrollmentOutcome.Accepted,
        };
        if (outcome != EnrollmentOutcome.Accepted)
            return new EnrollmentCheck(outcome, token);
        state.State.Token = token with { Uses = token.Uses + 1 };
        await state.WriteStateAsync();
        return new EnrollmentCheck(EnrollmentOutcome.Accepted, state.State.Token);
    }

    public async Task<EnrollmentTokenView> RevokeAsync(string? revokedBy)
    {
        var token = Token ?? throw new FederationException(FederationError.NotFound, "no such enrollment token");
        if (token.RevokedAt is null)
        {
            state.State.Token = token with { RevokedAt = DateTime.UtcNow, RevokedBy = revokedBy };
            await state.WriteStateAsync();
        }
        return state.State.Token!;
    }

    public Task<EnrollmentTokenView?> GetAsync() => Task.FromResult(Token);
}
