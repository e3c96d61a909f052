using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Federated.Coordinator.Security;

/// <summary>
/// <c>Authorization: Bearer &lt;API key&gt;</c>: the operator is the key's configured name, with its configured roles.
/// No header is no result (the challenge then says a credential is missing); an unknown key is a failure.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, OperatorApiKeys keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string AuthenticationType = "api-key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (OperatorAuthentication.BearerOf(Request) is not { } presented)
            return Task.FromResult(AuthenticateResult.NoResult());
        if (presented.Length > OperatorApiKeys.MaxKeyLength)
            return Fail($"the bearer value is {presented.Length} characters long; an API key has at most {OperatorApiKeys.MaxKeyLength}");
        if (OperatorAuthentication.LooksLikeJwt(presented))
            return Fail($"a JWT was presented, but this coordinator accepts none ({OperatorOptions.Section}:Jwt is not configured): use an API key");
        if (keys.Find(presented) is not { } key)
            return Fail("unknown API key (not among the coordinator's configured keys; it may have been removed)");

        var identity = new ClaimsIdentity(AuthenticationType, ClaimTypes.Name, ClaimTypes.Role);
        identity.AddClaim(new Claim(ClaimTypes.Name, key.Name));
        foreach (string role in key.Roles)
            identity.AddClaim(new Claim(ClaimTypes.Role, role));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }

    static Task<AuthenticateResult> Fail(string reason) => Task.FromResult(AuthenticateResult.Fail(reason));
}
