using Federated.Coordinator.Security;
using Federated.Grains;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Federated.Coordinator.Hosting;

/// <summary>Metrics for Prometheus at <c>/metrics</c>, liveness at <c>/healthz</c>, readiness at <c>/readyz</c>.</summary>
public static class ObservabilityExtensions
{
    const string Live = "live", Ready = "ready";

    // Meters the platform already emits: no instrumentation packages needed for HTTP, Kestrel, the runtime and Orleans.
    static readonly string[] Meters =
    [
        CoordinatorMetrics.MeterName,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Runtime",
        "Microsoft.Orleans",
    ];

    public static WebApplicationBuilder AddCoordinatorObservability(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("federated-coordinator"))
                        // No scrape cache: a scrape shows what has been recorded, not what was 300 ms ago.
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        builder.Services.AddHealthChecks()
            .AddCheck("process", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy(), tags: [Live])
            .AddCheck<CoordinatorReadinessCheck>("coordinator", tags: [Ready]);
        return builder;
    }

    public static WebApplication MapCoordinatorObservability(this WebApplication app)
    {
        // Open (no authentication) but on the admin endpoint only; the agents' port has grpc.health.v1.
        app.MapPrometheusScrapingEndpoint("/metrics").OnlyOnAdminEndpoint();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(Live) }).OnlyOnAdminEndpoint();
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(Ready) }).OnlyOnAdminEndpoint();
        return app;
    }
}
