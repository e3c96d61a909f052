using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Storage;

namespace Federated.Storage;

public static class FileGrainStorageSiloBuilderExtensions
{
    /// <summary>Registers a <see cref="FileGrainStorage"/> grain storage provider under <paramref name="name"/>.</summary>
    public static ISiloBuilder AddFileGrainStorage(this ISiloBuilder builder, string name, Action<FileGrainStorageOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configureOptions);
        return builder.ConfigureServices(services =>
        {
            services.AddOptions<FileGrainStorageOptions>(name).Configure(configureOptions);
            // Same wiring as Orleans' own providers: a serializer left unset gets the silo's default one.
            services.AddTransient<IPostConfigureOptions<FileGrainStorageOptions>, DefaultStorageProviderSerializerOptionsConfigurator<FileGrainStorageOptions>>();
            services.ConfigureNamedOptionForLogging<FileGrainStorageOptions>(name);
            services.AddGrainStorage(name, FileGrainStorage.Create);
        });
    }
}
