using Serilog;
using Serilog.Formatting.Compact;

namespace Federated.Coordinator.Hosting;

/// <summary>Serilog, in two stages: a console logger for start-up, then the configured one once the host is built.</summary>
public static class CoordinatorLogging
{
    /// <summary>Logs what happens before configuration is read (including why it was rejected).</summary>
    public static Serilog.ILogger CreateBootstrapLogger() =>
        new LoggerConfiguration().WriteTo.Console(formatProvider: System.Globalization.CultureInfo.InvariantCulture).CreateBootstrapLogger();

    /// <summary>
    /// Levels, enrichers and sinks from the <c>Serilog</c> section. Unless that section names its own sinks
    /// (<c>Serilog:WriteTo</c>), logs go to the console: JSON (compact, one event a line) in cluster mode, where a
    /// collector reads them, and text otherwise.
    /// </summary>
    public static WebApplicationBuilder AddCoordinatorLogging(this WebApplicationBuilder builder, CoordinatorOptions options)
    {
        var configuration = builder.Configuration;
        bool configuredSinks = configuration.GetSection("Serilog:WriteTo").Exists();
        builder.Services.AddSerilog((services, logger) =>
        {
            logger.ReadFrom.Configuration(configuration).ReadFrom.Services(services).Enrich.FromLogContext();
            if (configuredSinks)
                return;
            if (options.Mode == CoordinatorMode.Cluster)
                logger.WriteTo.Console(new CompactJsonFormatter());
            else
                logger.WriteTo.Console(formatProvider: System.Globalization.CultureInfo.InvariantCulture);
        });
        return builder;
    }
}
