using Federated.Coordinator.Hosting;
using Microsoft.Extensions.Configuration;

namespace Federated.Coordinator.Tests.Hosting;

/// <summary>Coordinator options bound from in-memory settings, as the host binds its configuration.</summary>
static class BoundOptions
{
    public static CoordinatorOptions Bind(params (string Key, string Value)[] settings)
    {
        var options = new CoordinatorOptions();
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build()
            .GetSection(CoordinatorOptions.Section).Bind(options);
        return options;
    }
}
