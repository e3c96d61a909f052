using Federated.Coordinator.Hosting;

namespace Federated.Coordinator.Security;

/// <summary>
/// The <c>Coordinator:Operators</c> section: who may call the admin API. API keys by name
/// (<c>Coordinator__Operators__ApiKeys__alice__Sha256=...</c>, <c>..__Roles=admin,download</c>; mint one with
/// <c>fed apikey create</c>) and, optionally, JWT bearer tokens from an OIDC provider (<see cref="OperatorJwtOptions"/>).
/// </summary>
public sealed class OperatorOptions
{
    public const string Section = "Coordinator:Operators";

    public IReadOnlyList<OperatorApiKey> ApiKeys { get; init; } = [];
    public OperatorJwtOptions Jwt { get; init; } = new();

    public bool HasCredentials => ApiKeys.Count > 0 || Jwt.Enabled;

    /// <summary>Reads and checks the section; a key's <c>Roles</c> is a comma-separated string or a list.</summary>
    /// <exception cref="InvalidCoordinatorConfigurationException">A key or JWT setting is missing or malformed; the message names it.</exception>
    public static OperatorOptions Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var keys = new List<OperatorApiKey>();
        foreach (var entry in section.GetSection("ApiKeys").GetChildren())
        {
            string where = $"{Section}:ApiKeys:{entry.Key}";
            if (!OperatorApiKey.IsValidName(entry.Key))
                throw new InvalidCoordinatorConfigurationException($"{where}: a key name is 1 to 64 letters, digits, '-' or '_'");
            string sha256 = entry["Sha256"] is { Length: > 0 } s ? s.Trim().ToLowerInvariant()
                : throw new InvalidCoordinatorConfigurationException($"{where}:Sha256 is required (the key's SHA-256 as 64 hex digits, as 'fed apikey create' prints it)");
            if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigit))
                throw new InvalidCoordinatorConfigurationException($"{where}:Sha256 must be 64 hex digits (the SHA-256 of the key, not the key itself)");
            string[] roles = (entry["Roles"] is { } list ? list.Split(',') : entry.GetSection("Roles").GetChildren().Select(c => c.Value ?? ""))
                .Select(r => r.Trim()).Where(r => r.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
            if (roles.Length == 0)
                throw new InvalidCoordinatorConfigurationException($"{where}:Roles is required: one or more of {string.Join(", ", OperatorRoles.All)}");
            if (roles.FirstOrDefault(r => !OperatorRoles.All.Contains(r)) is { } unknown)
                throw new InvalidCoordinatorConfigurationException($"{where}:Roles: unknown role '{unknown}' (expected {string.Join(", ", OperatorRoles.All)})");
            keys.Add(new OperatorApiKey(entry.Key, Convert.FromHexString(sha256), roles));
        }
        var jwt = new OperatorJwtOptions();
        section.GetSection("Jwt").Bind(jwt);
        jwt.Validate($"{Section}:Jwt");
        return new OperatorOptions { ApiKeys = keys, Jwt = jwt };
    }
}

/// <summary>A configured API key: its name (who, in the audit log), the SHA-256 of the key, and its roles.</summary>
public sealed record OperatorApiKey(string Name, byte[] Sha256, string[] Roles)
{
    public static bool IsValidName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}

/// <summary>
/// <c>Coordinator:Operators:Jwt</c>: bearer tokens from an OIDC provider (<see cref="Authority"/>, keys by discovery) or,
/// air-gapped, signed by a key whose public half is a PEM file (<see cref="SigningKeyFile"/>, then <see cref="Issuer"/> is required).
/// </summary>
public sealed class OperatorJwtOptions
{
    /// <summary>The OIDC issuer URL; its discovery document gives the signing keys and the issuer.</summary>
    public string? Authority { get; set; }

    /// <summary>The audience tokens must be issued for (required when JWT is on).</summary>
    public string? Audience { get; set; }

    /// <summary>The expected <c>iss</c>; required with <see cref="SigningKeyFile"/>, else taken from discovery.</summary>
    public string? Issuer { get; set; }

    /// <summary>A PEM public key (RSA or EC) that signs tokens, instead of discovery.</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>The claim holding the operator's roles (<see cref="OperatorRoles"/>): a string or an array of strings.</summary>
    public string RolesClaim { get; set; } = "roles";

    /// <summary>The claim that names the operator in the audit log.</summary>
    public string NameClaim { get; set; } = "sub";

    /// <summary>Discovery over HTTPS only; turn off only for a local test provider.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(SigningKeyFile);

    internal void Validate(string where)
    {
        if (!Enabled) return;
        if (string.IsNullOrWhiteSpace(Audience))
            throw new InvalidCoordinatorConfigurationException($"{where}:Audience is required with {where}:Authority or {where}:SigningKeyFile (the audience tokens are issued for)");
        if (!string.IsNullOrWhiteSpace(SigningKeyFile) && string.IsNullOrWhiteSpace(Issuer))
            throw new InvalidCoordinatorConfigurationException($"{where}:Issuer is required with {where}:SigningKeyFile (there is no discovery to name it)");
        if (!string.IsNullOrWhiteSpace(SigningKeyFile) && !File.Exists(SigningKeyFile))
            throw new InvalidCoordinatorConfigurationException($"{where}:SigningKeyFile: no file at {SigningKeyFile}");
        if (string.IsNullOrWhiteSpace(RolesClaim) || string.IsNullOrWhiteSpace(NameClaim))
            throw new InvalidCoordinatorConfigurationException($"{where}:RolesClaim and {where}:NameClaim must not be empty");
    }
}
