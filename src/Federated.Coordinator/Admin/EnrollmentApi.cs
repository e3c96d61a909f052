using System.Security.Claims;
using Federated.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Federated.Coordinator.Admin;

/// <summary>Body of <c>POST /api/federations/{id}/tokens</c>: how many agents may enroll with the token, and for how long (default 1 use, 24 h).</summary>
public sealed record CreateEnrollmentTokenRequest(int? Uses = null, TimeSpan? ExpiresIn = null);

/// <summary>
/// Operators' control of participants: enrollment tokens per federation (create: the secret is in this response only;
/// list: never the secret; revoke) and revoking a client's credential. Who did it is the authenticated caller's name, for
/// the audit trail (null when the API is not authenticated).
/// </summary>
public static class EnrollmentApi
{
    public const int DefaultUses = 1;
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromHours(24);

    public static RouteGroupBuilder MapEnrollmentApi(this RouteGroupBuilder api)
    {
        api.MapPost("/federations/{id}/tokens", CreateToken);
        api.MapGet("/federations/{id}/tokens", ListTokens);
        api.MapDelete("/federations/{id}/tokens/{tokenId}", RevokeToken);
        api.MapPost("/clients/{clientId}/revoke", RevokeClient);
        return api;
    }

    static async Task<Created<IssuedEnrollmentToken>> CreateToken(string id, CreateEnrollmentTokenRequest? request, IGrainFactory grains, ClaimsPrincipal user, ILoggerFactory logs)
    {
        var issued = await Tokens(grains, id).CreateAsync(request?.Uses ?? DefaultUses, request?.ExpiresIn ?? DefaultExpiry, Caller(user));
        var t = issued.Details;
        Audit(logs).LogInformation("Operator {Operator} created enrollment token {TokenId} for {Federation}: {Uses} uses until {ExpiresAt:u}",
            t.CreatedBy ?? "anonymous", t.Id, t.FederationId, t.MaxUses, t.ExpiresAt);
        return TypedResults.Created($"/api/federations/{id}/tokens/{t.Id}", issued);
    }

    static Task<EnrollmentTokenView[]> ListTokens(string id, IGrainFactory grains) => Tokens(grains, id).ListAsync();

    static async Task<EnrollmentTokenView> RevokeToken(string id, string tokenId, IGrainFactory grains, ClaimsPrincipal user, ILoggerFactory logs)
    {
        var view = await Tokens(grains, id).RevokeAsync(tokenId, Caller(user));
        Audit(logs).LogInformation("Operator {Operator} revoked enrollment token {TokenId} of {Federation}", Caller(user) ?? "anonymous", tokenId, id);
        return view;
    }

    static async Task<ClientView> RevokeClient(string clientId, IGrainFactory grains, ClaimsPrincipal user, ILoggerFactory logs)
    {
        if (!GrainKeys.IsValidId(clientId))
            throw new FederationException(FederationError.InvalidArgument, "not a client id (1 to 64 letters, digits, '-', '_' or '.')");
        var view = await grains.GetGrain<IClientGrain>(clientId).RevokeAsync(Caller(user));
        Audit(logs).LogInformation("Operator {Operator} revoked client {Client} of {Federation}", Caller(user) ?? "anonymous", clientId, view.FederationId);
        return view;
    }

    static IEnrollmentTokensGrain Tokens(IGrainFactory grains, string id) => GrainKeys.IsValidId(id)
        ? grains.GetGrain<IEnrollmentTokensGrain>(id)
        : throw new FederationException(FederationError.InvalidArgument, $"'{id}' is not a valid federation id (1 to 64 letters, digits, '-', '_' or '.')");

    static string? Caller(ClaimsPrincipal user) => user.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } ? name : null;

    static ILogger Audit(ILoggerFactory logs) => logs.CreateLogger("Federated.Coordinator.Audit");
}
