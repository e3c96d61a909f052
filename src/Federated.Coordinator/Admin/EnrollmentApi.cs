using System.Security.Claims;
using Federated.Contracts;
using Federated.Coordinator.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Federated.Coordinator.Admin;

/// <summary>Body of <c>POST /api/federations/{id}/tokens</c>: how many agents may enroll with the token, and for how long (default 1 use, 24 h).</summary>
public sealed record CreateEnrollmentTokenRequest(int? Uses = null, TimeSpan? ExpiresIn = null);

/// <summary>
/// Operators' control of participants: enrollment tokens per federation (create: the secret is in this response only;
/// list: never the secret; revoke) and revoking a client's credential. Admin only; the audit filter of the /api group records
/// each change, and the tokens and client remember who created or revoked them (the operator's name).
/// </summary>
public static class EnrollmentApi
{
    public const int DefaultUses = 1;
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromHours(24);

    public static RouteGroupBuilder MapEnrollmentApi(this RouteGroupBuilder api)
    {
        api.MapPost("/federations/{id}/tokens", CreateToken).RequireAuthorization(OperatorPolicies.Admin);
        api.MapGet("/federations/{id}/tokens", ListTokens).RequireAuthorization(OperatorPolicies.Admin);
        api.MapDelete("/federations/{id}/tokens/{tokenId}", RevokeToken).RequireAuthorization(OperatorPolicies.Admin);
        api.MapPost("/clients/{clientId}/revoke", RevokeClient).RequireAuthorization(OperatorPolicies.Admin);
        return api;
    }

    static async Task<Created<IssuedEnrollmentToken>> CreateToken(string id, CreateEnrollmentTokenRequest? request, IGrainFactory grains, ClaimsPrincipal user)
    {
        var issued = await Tokens(grains, id).CreateAsync(request?.Uses ?? DefaultUses, request?.ExpiresIn ?? DefaultExpiry, Caller(user));
        return TypedResults.Created($"/api/federations/{id}/tokens/{issued.Details.Id}", issued);
    }

    static Task<EnrollmentTokenView[]> ListTokens(string id, IGrainFactory grains) => Tokens(grains, id).ListAsync();

    static Task<EnrollmentTokenView> RevokeToken(string id, string tokenId, IGrainFactory grains, ClaimsPrincipal user) =>
        Tokens(grains, id).RevokeAsync(tokenId, Caller(user));

    static Task<ClientView> RevokeClient(string clientId, IGrainFactory grains, ClaimsPrincipal user) => GrainKeys.IsValidId(clientId)
        ? grains.GetGrain<IClientGrain>(clientId).RevokeAsync(Caller(user))
        : throw new FederationException(FederationError.InvalidArgument, "not a client id (1 to 64 letters, digits, '-', '_' or '.')");

    static IEnrollmentTokensGrain Tokens(IGrainFactory grains, string id) => GrainKeys.IsValidId(id)
        ? grains.GetGrain<IEnrollmentTokensGrain>(id)
        : throw new FederationException(FederationError.InvalidArgument, $"'{id}' is not a valid federation id (1 to 64 letters, digits, '-', '_' or '.')");

    static string? Caller(ClaimsPrincipal user) => user.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } ? name : null;
}
