using Serilog;
using Serilog.Formatting.Compact;

namespace Federated.Coordinator.Hosting;

/// <summary>Serilog, in two stages: a console logger for start-up, then the configured one once configuration is read.</summary>
public static class CoordinatorLogging
{
    /// <summary>Logs what happens before configuration is read (including why it was rejected).</summary>
    public static Serilog.ILogger CreateBootstrapLogger() =>
        new LoggerConfiguration().WriteTo.Console(formatProvider: System.Globalization.CultureInfo.InvariantCulture).CreateLogger();

    /// <summary>
    /// Levels, enrichers and sinks from the <c>Serilog</c> section. Unless that section names its own sinks
    /// (<c>Serilog:WriteTo</c>), logs go to the console: JSON (compact, one event a line) in cluster mode, where a
    /// collector reads them, and text otherwise. The logger also becomes <see cref="Log.Logger"/> and outlives the
    /// host, so Program.cs can still say why a start failed after the host was disposed.
    /// </summary>
    public static WebApplicationBuilder AddCoordinatorLogging(this WebApplicationBuilder builder, CoordinatorOptions options)
    {
        var configuration = builder.Configuration;
        var logger = new LoggerConfiguration()
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext()
            // Last, so it also sees what the other enrichers added.
            .Enrich.With<ControlCharacterEscaping>()
            // Program.cs reports a failed start itself: one line when an operator can fix it, the exception otherwise.
            .Filter.ByExcluding(e => e.MessageTemplate.Text == "Hosting failed to start");
        if (!configuration.GetSection("Serilog:WriteTo").Exists())
        {
            if (options.Mode == CoordinatorMode.Cluster)
                logger.WriteTo.Console(new CompactJsonFormatter());
            else
                logger.WriteTo.Console(formatProvider: System.Globalization.CultureInfo.InvariantCulture);
        }
        var bootstrap = Log.Logger;
        Log.Logger = logger.CreateLogger();
        (bootstrap as IDisposable)?.Dispose();
        builder.Services.AddSerilog(Log.Logger, dispose: false);
        return builder;
    }
}
