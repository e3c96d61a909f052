using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Mvc;
using Microsoft.IdentityModel.Tokens;

namespace Federated.Coordinator.Security;

/// <summary>
/// 401 and 403 as RFC 7807 problem details whose <c>detail</c> says what is missing: a credential, a valid one (and
/// why this one is not), or a role. The schemes still set the status and <c>WWW-Authenticate</c>; refusals of audited
/// routes are audit events too.
/// </summary>
sealed class OperatorRefusals(IProblemDetailsService problems, OperatorAudit audit) : IAuthorizationMiddlewareResultHandler
{
    readonly AuthorizationMiddlewareResultHandler _schemes = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (result.Succeeded)
        {
            await next(context);
            return;
        }
        string detail = result.Challenged ? await WhyUnauthenticated(context) : WhyForbidden(context, policy);
        await _schemes.HandleAsync(next, context, policy, result);
        audit.Refused(context, context.Response.StatusCode, detail);
        await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = context.Response.StatusCode, Detail = detail },
        });
    }

    static async Task<string> WhyUnauthenticated(HttpContext context)
    {
        var authenticated = await context.AuthenticateAsync(OperatorAuthentication.Scheme);
        return authenticated.Failure switch
        {
            null => "no credential: send 'Authorization: Bearer <API key or token>' (fed: --api-key or FED_API_KEY)",
            SecurityTokenExpiredException e => $"the token expired at {e.Expires:u}",
            SecurityTokenNotYetValidException e => $"the token is not valid before {e.NotBefore:u}",
            SecurityTokenInvalidSignatureException or SecurityTokenSignatureKeyNotFoundException => "the token's signature does not verify with the configured signing keys",
            SecurityTokenInvalidAudienceException => "the token was not issued for this coordinator's audience (Coordinator:Operators:Jwt:Audience)",
            SecurityTokenInvalidIssuerException => "the token's issuer is not the configured one (Coordinator:Operators:Jwt)",
            SecurityTokenException e => $"the token was refused: {e.GetType().Name}",
            var e => e.Message,
        };
    }

    static string WhyForbidden(HttpContext context, AuthorizationPolicy policy)
    {
        string[] needed = policy.Requirements.OfType<RolesAuthorizationRequirement>().SelectMany(r => r.AllowedRoles).Distinct().ToArray();
        var identity = context.User.Identities.FirstOrDefault(i => i.IsAuthenticated);
        string who = identity?.Name is { } name ? $"'{name}'" : "this operator";
        string[] held = identity is null ? [] : identity.FindAll(identity.RoleClaimType).Select(c => c.Value).Distinct().ToArray();
        string need = needed.Length == 1 ? $"the role '{needed[0]}'" : $"one of the roles {string.Join(", ", needed.Select(r => $"'{r}'"))}";
        return $"this needs {need}; {who} has {(held.Length == 0 ? "no roles" : string.Join(", ", held))}";
    }
}
