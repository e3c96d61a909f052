namespace Federated.Coordinator.Security;

/// <summary>
/// What an operator may do, by role (an API key's <c>Roles</c>, a JWT's roles claim):
/// <list type="bullet">
/// <item><c>viewer</c>: read federations, rounds and clients.</item>
/// <item><c>download</c>: download a federation's adapters and model (the trained weights, kept apart from reading).</item>
/// <item><c>admin</c>: everything: create, start and close, enrollment tokens, revoking clients; implies viewer and download.</item>
/// </list>
/// </summary>
public static class OperatorRoles
{
    public const string Admin = "admin";
    public const string Viewer = "viewer";
    public const string Download = "download";

    public static readonly string[] All = [Admin, Viewer, Download];
}

/// <summary>The authorization policies the admin API's routes name; each lists the roles that satisfy it.</summary>
public static class OperatorPolicies
{
    public const string Viewer = "operator-viewer";
    public const string Admin = "operator-admin";
    public const string Download = "operator-download";

    /// <summary>Policy name, and the roles any one of which grants it.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Roles = new Dictionary<string, string[]>
    {
        [Viewer] = [OperatorRoles.Viewer, OperatorRoles.Admin],
        [Admin] = [OperatorRoles.Admin],
        [Download] = [OperatorRoles.Download, OperatorRoles.Admin],
    };
}
