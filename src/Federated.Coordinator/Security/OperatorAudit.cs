using Federated.Coordinator.Hosting;

namespace Federated.Coordinator.Security;

/// <summary>A request body that names what the operator acts on (a create's id): the audit log names it too.</summary>
public interface IAuditTarget
{
    string AuditTarget { get; }
}

/// <summary>Marks a read-only route whose use is audited anyway (model and adapter downloads).</summary>
public sealed class AuditedMetadata
{
    public static readonly AuditedMetadata Instance = new();
}

/// <summary>
/// The audit log: one structured event (category <c>Federated.Audit</c>) per change an operator makes (every POST, PUT,
/// PATCH and DELETE under the admin API, and routes marked <see cref="AuditedMetadata"/>), with who (API key name or JWT
/// subject), how they authenticated, what (method, route, target ids), from where, and the outcome; refused attempts too.
/// The event's timestamp is when.
/// </summary>
public sealed partial class OperatorAudit(ILoggerFactory loggers)
{
    public const string Category = "Federated.Audit";
    const int MaxTarget = 256;

    readonly ILogger _log = loggers.CreateLogger(Category);

    public static bool Applies(HttpContext context) =>
        !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method))
        || context.GetEndpoint()?.Metadata.GetMetadata<AuditedMetadata>() is not null;

    public void Succeeded(HttpContext context, int status, string target) =>
        Event(_log, Operator(context), Method(context), Action(context), target, "succeeded", status, Address(context));

    public void Failed(HttpContext context, int status, string target, string reason) =>
        Event(_log, Operator(context), Method(context), Action(context), target, $"failed: {Clean(reason)}", status, Address(context));

    /// <summary>Not authenticated or not allowed (from <see cref="OperatorRefusals"/>).</summary>
    public void Refused(HttpContext context, int status, string reason)
    {
        if (Applies(context))
            Event(_log, Operator(context), Method(context), Action(context), Target(context, []), $"refused: {Clean(reason)}", status, Address(context));
    }

    /// <summary>The route's values ("id=demo round=3") and what request bodies name.</summary>
    public static string Target(HttpContext context, IEnumerable<object?> arguments)
    {
        var parts = context.Request.RouteValues.Select(v => $"{v.Key}={v.Value}")
            .Concat(arguments.OfType<IAuditTarget>().Select(a => a.AuditTarget));
        string target = Clean(string.Join(' ', parts));
        return target.Length == 0 ? "-" : target;
    }

    static string Operator(HttpContext context)
    {
        var identity = context.User.Identities.FirstOrDefault(i => i.IsAuthenticated);
        return identity is null ? "anonymous" : $"{Clean(identity.Name ?? "(unnamed)")} ({identity.AuthenticationType})";
    }

    static string Method(HttpContext context) => context.Request.Method;

    // The route pattern, not the path: ids are in the target.
    static string Action(HttpContext context) =>
        (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.ToString();

    static string Address(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "-";

    /// <summary>Length bounded and control characters escaped: values an operator sent must not forge log lines.</summary>
    static string Clean(string value) => value.Length > MaxTarget
        ? ControlCharacterEscaping.Escape(value[..MaxTarget]) + "…"
        : ControlCharacterEscaping.Escape(value);

    [LoggerMessage(EventId = 900, EventName = "OperatorAudit", Level = LogLevel.Information,
        Message = "audit: {Operator} {Method} {Action} {Target}: {Outcome} ({Status}) from {RemoteAddress}")]
    static partial void Event(ILogger logger, string Operator, string method, string action, string target, string outcome, int status, string remoteAddress);
}

/// <summary>Audits the routes it is added to (a route group: every route in it) as <see cref="OperatorAudit"/> describes.</summary>
public sealed class OperatorAuditFilter(OperatorAudit audit) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!OperatorAudit.Applies(http))
            return await next(context);
        string target = OperatorAudit.Target(http, context.Arguments);
        try
        {
            var result = await next(context);
            audit.Succeeded(http, result is IStatusCodeHttpResult { StatusCode: { } status } ? status : StatusCodes.Status200OK, target);
            return result;
        }
        catch (Exception e)
        {
            audit.Failed(http, Admin.AdminProblems.StatusOf(e) ?? StatusCodes.Status500InternalServerError, target, e.Message);
            throw;
        }
    }
}
