using Microsoft.AspNetCore.Server.Kestrel;

namespace Federated.Coordinator.Hosting;

public static class KestrelEndpoints
{
    /// <summary>
    /// Adds settings to one named endpoint of <c>Kestrel:Endpoints</c>. Every caller shares the host's one configuration
    /// loader: a second <c>kestrel.Configure(section)</c> would replace it and silently drop the callbacks added before.
    /// </summary>
    public static WebApplicationBuilder ConfigureEndpoint(this WebApplicationBuilder builder, string name, Action<EndpointConfiguration, IServiceProvider> configure)
    {
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
            (kestrel.ConfigurationLoader ?? kestrel.Configure(context.Configuration.GetSection("Kestrel")))
                .Endpoint(name, endpoint => configure(endpoint, kestrel.ApplicationServices)));
        return builder;
    }
}
