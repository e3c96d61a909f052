using System.Net.Sockets;
using Serilog;
using Serilog.Events;

namespace Federated.Coordinator.Hosting;

public static class CoordinatorStartup
{
    /// <summary>
    /// Request logging, then refusals as problem details (see Admin/AdminProblems) and bodiless 4xx as problem details too,
    /// then operator authentication and authorization (see Security/OperatorAuthentication; 401/403 are problem details).
    /// </summary>
    public static WebApplication UseCoordinatorPipeline(this WebApplication app)
    {
        app.UseSerilogRequestLogging(o => o.GetLevel = RequestLogLevel);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    /// <summary>
    /// Operators' requests are logged one line each; agents' gRPC calls only at Debug: thousands of agents poll, and a
    /// flood of refused calls must not become a flood of log lines (<see cref="Agents.RefusalSummary"/> summarises those).
    /// </summary>
    static LogEventLevel RequestLogLevel(HttpContext http, double elapsedMs, Exception? error) =>
        error is not null || http.Response.StatusCode >= 500 ? LogEventLevel.Error
        : http.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true ? LogEventLevel.Debug
        : LogEventLevel.Information;

    /// <summary>
    /// Why the coordinator could not start, when an operator can fix it (a bad setting, a port in use), as one line;
    /// null for anything else. Hosts wrap such failures (Orleans' lifecycle, Kestrel's binding), so look inside.
    /// </summary>
    public static string? OperatorReason(Exception exception)
    {
        foreach (var e in Chain(exception))
        {
            switch (e)
            {
                case InvalidCoordinatorConfigurationException or Microsoft.Extensions.Options.OptionsValidationException:
                    return e.Message;
                // Orleans' Redis providers wrap the client's exception in their own, sometimes only as message text.
                case not null when e.GetType().FullName!.Contains("Redis", StringComparison.Ordinal) && e.Message.Contains("connect", StringComparison.OrdinalIgnoreCase):
                    return $"cannot reach Redis (Coordinator:Redis): {e.Message.Replace("StackExchange.Redis.RedisConnectionException: ", "").Split('\n')[0].Trim()}";
                case IOException when e.Message.Contains("bind", StringComparison.OrdinalIgnoreCase):
                    return e.Message;
                case SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable or SocketError.AccessDenied } s:
                    return $"cannot listen: {s.Message} (is another coordinator or silo using the port? see Coordinator:SiloPort, Coordinator:GatewayPort, Kestrel:Endpoints)";
            }
        }
        return null;
    }

    static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Queue<Exception>([exception]);
        while (pending.TryDequeue(out var e))
        {
            yield return e;
            if (e is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions) pending.Enqueue(inner);
            else if (e.InnerException is { } inner)
                pending.Enqueue(inner);
        }
    }
}
