using Microsoft.AspNetCore.Server.Kestrel;

namespace Federated.Coordinator.Hosting;

public static class KestrelEndpoints
{
    /// <summary>
    /// Adds settings to one named endpoint of <c>Kestrel:Endpoints</c>. Every caller shares the host's one configuration
    /// loader (a second <c>kestrel.Configure(section)</c> would replace it), and the loader keeps one callback per endpoint
    /// name, so the callbacks for a name are collected here and run in the order they were added.
    /// </summary>
    public static WebApplicationBuilder ConfigureEndpoint(this WebApplicationBuilder builder, string name, Action<EndpointConfiguration, IServiceProvider> configure)
    {
        var properties = builder.Host.Properties;
        if (properties.TryGetValue(typeof(KestrelEndpoints), out var existing))
        {
            var callbacks = (Dictionary<string, List<Action<EndpointConfiguration, IServiceProvider>>>)existing;
            if (!callbacks.TryGetValue(name, out var list)) callbacks[name] = list = [];
            list.Add(configure);
            return builder;
        }
        var all = new Dictionary<string, List<Action<EndpointConfiguration, IServiceProvider>>>(StringComparer.OrdinalIgnoreCase) { [name] = [configure] };
        properties[typeof(KestrelEndpoints)] = all;
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var loader = kestrel.ConfigurationLoader ?? kestrel.Configure(context.Configuration.GetSection("Kestrel"));
            foreach (var (endpoint, callbacks) in all)
                loader.Endpoint(endpoint, e => callbacks.ForEach(c => c(e, kestrel.ApplicationServices)));
        });
        return builder;
    }
}
