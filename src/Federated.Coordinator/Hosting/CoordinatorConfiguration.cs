using Microsoft.Extensions.Options;

namespace Federated.Coordinator.Hosting;

/// <summary>A coordinator setting that is missing, malformed or contradicts the mode; the message names it.</summary>
public sealed class InvalidCoordinatorConfigurationException(string message, Exception? inner = null) : Exception(message, inner);

public static class CoordinatorConfiguration
{
    /// <summary>
    /// Binds and validates the <c>Coordinator</c> section once, before anything starts, so a bad setting stops the
    /// process with one line instead of a silo that fails half-way up. The options are also registered for injection.
    /// </summary>
    /// <exception cref="InvalidCoordinatorConfigurationException"/>
    public static CoordinatorOptions AddCoordinatorOptions(this WebApplicationBuilder builder)
    {
        var options = new CoordinatorOptions();
        try
        {
            builder.Configuration.GetSection(CoordinatorOptions.Section).Bind(options);
            options.Validate();
        }
        catch (InvalidOperationException e)
        {
            // The binder's message names the key and the target type ("Failed to convert configuration value at
            // 'Coordinator:Mode' to type ..."); its inner exception says what was wrong with the value.
            string detail = e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;
            throw new InvalidCoordinatorConfigurationException($"invalid configuration: {detail}", e);
        }
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(Options.Create(options));
        return options;
    }
}
