using System.Security.Cryptography;
using Federated.Coordinator.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;

namespace Federated.Coordinator.Security;

/// <summary>
/// Operators authenticate with <c>Authorization: Bearer &lt;credential&gt;</c>: an API key (<see cref="ApiKeyAuthenticationHandler"/>)
/// or, when <c>Coordinator:Operators:Jwt</c> is configured, a JWT (ASP.NET's JwtBearer handler), told apart by shape. The
/// routes name <see cref="OperatorPolicies"/>. No scheme is the default, so agents' gRPC calls (which carry their own bearer
/// credential, checked by AgentAuthentication) never pass through these handlers.
/// </summary>
public static class OperatorAuthentication
{
    /// <summary>The scheme the policies use: forwards to <see cref="ApiKeyScheme"/> or <see cref="JwtScheme"/>.</summary>
    public const string Scheme = "Operator";
    public const string ApiKeyScheme = "OperatorApiKey";
    public const string JwtScheme = "OperatorJwt";
    public const string JwtAuthenticationType = "jwt";

    /// <exception cref="InvalidCoordinatorConfigurationException">Operator settings are malformed, or none are given in cluster mode.</exception>
    public static WebApplicationBuilder AddOperatorAuthentication(this WebApplicationBuilder builder, CoordinatorOptions coordinator)
    {
        var options = OperatorOptions.Read(builder.Configuration);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(KeysFor(options, coordinator));

        var authentication = builder.Services.AddAuthentication()
            .AddPolicyScheme(Scheme, "API key or JWT", o => o.ForwardDefaultSelector = context =>
                options.Jwt.Enabled && BearerOf(context.Request) is { } bearer && LooksLikeJwt(bearer) ? JwtScheme : ApiKeyScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyScheme, null);
        if (options.Jwt.Enabled)
            authentication.AddJwtBearer(JwtScheme, o => ConfigureJwt(o, options.Jwt));

        builder.Services.AddAuthorization(o =>
        {
            // Any route under /api without a policy of its own still needs an authenticated operator.
            o.DefaultPolicy = new AuthorizationPolicyBuilder(Scheme).RequireAuthenticatedUser().Build();
            foreach (var (policy, roles) in OperatorPolicies.Roles)
                o.AddPolicy(policy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireRole(roles));
        });
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, OperatorRefusals>();
        builder.Services.AddSingleton<OperatorAudit>();
        return builder;
    }

    /// <summary>The value of <c>Authorization: Bearer ...</c>, or null.</summary>
    public static string? BearerOf(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }

    /// <summary>A JWS in compact form: three base64url parts. API keys have no dots.</summary>
    public static bool LooksLikeJwt(string bearer) => bearer.Count(c => c == '.') == 2;

    static OperatorApiKeys KeysFor(OperatorOptions options, CoordinatorOptions coordinator)
    {
        if (options.HasCredentials)
            return new OperatorApiKeys(options.ApiKeys);
        if (coordinator.Mode == CoordinatorMode.Cluster)
            throw new InvalidCoordinatorConfigurationException(
                $"no operator credentials: set {OperatorOptions.Section}:ApiKeys:<name>:Sha256 and :Roles (mint a key with 'fed apikey create --name NAME --role admin') " +
                $"or {OperatorOptions.Section}:Jwt:Authority (or :SigningKeyFile) and :Audience; the admin API is never served without authentication");
        var generated = LocalAdminKey.Ensure(coordinator.DataDirectory, out string path);
        return new OperatorApiKeys([generated], path);
    }

    static void ConfigureJwt(JwtBearerOptions o, OperatorJwtOptions jwt)
    {
        // Keep the token's claim names ("sub", "roles") as they are, so RolesClaim and NameClaim mean what they say.
        o.MapInboundClaims = false;
        o.Authority = string.IsNullOrWhiteSpace(jwt.Authority) ? null : jwt.Authority;
        o.Audience = jwt.Audience;
        o.RequireHttpsMetadata = jwt.RequireHttpsMetadata;
        o.TokenValidationParameters = new TokenValidationParameters
        {
            ValidAudience = jwt.Audience,
            ValidIssuer = string.IsNullOrWhiteSpace(jwt.Issuer) ? null : jwt.Issuer,
            NameClaimType = jwt.NameClaim,
            RoleClaimType = jwt.RolesClaim,
            AuthenticationType = JwtAuthenticationType,
            ClockSkew = TimeSpan.FromMinutes(1),
        };
        if (!string.IsNullOrWhiteSpace(jwt.SigningKeyFile))
            o.TokenValidationParameters.IssuerSigningKey = PublicKey(jwt.SigningKeyFile);
    }

    /// <summary>An RSA or EC public key from a PEM file.</summary>
    static SecurityKey PublicKey(string path)
    {
        string pem = File.ReadAllText(path);
        try
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return new RsaSecurityKey(rsa);
        }
        catch (ArgumentException)
        {
            // Not RSA: try EC below.
        }
        try
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            return new ECDsaSecurityKey(ec);
        }
        catch (ArgumentException e)
        {
            throw new InvalidCoordinatorConfigurationException($"{OperatorOptions.Section}:Jwt:SigningKeyFile: {path} holds no RSA or EC public key in PEM form ({e.Message})", e);
        }
    }
}
