using System.Globalization;
using Federated.Coordinator.Admin;
using Federated.Coordinator.Agents;
using Federated.Coordinator.Security;
using Federated.Core.Runtime;

namespace Federated.Coordinator.Hosting;

/// <summary>Everything the coordinator process serves, in the order it is wired; Program.cs and the tests both use it.</summary>
public static class CoordinatorApplication
{
    /// <exception cref="InvalidCoordinatorConfigurationException">A <c>Coordinator</c> setting is missing or wrong.</exception>
    public static WebApplicationBuilder AddCoordinator(this WebApplicationBuilder builder)
    {
        builder.AddSecretFiles(); // before the options are bound: tokens may come from files
        var options = builder.AddCoordinatorOptions();
        if (options.TorchThreads > 0) TorchSharp.torch.set_num_threads(options.TorchThreads);
        builder.AddCoordinatorLogging(options);
        builder.UseOrleans(silo => silo.AddFederatedCoordinator(options));
        builder.AddCoordinatorObservability();
        builder.AddAdminEndpoint();
        builder.AddOperatorAuthentication(options);
        builder.AddAdminApi();
        builder.AddAgentEndpoint(options);
        return builder;
    }

    public static WebApplication UseCoordinator(this WebApplication app)
    {
        app.UseCoordinatorPipeline();
        app.MapCoordinatorObservability();
        app.MapAdminApi();
        app.MapAgentEndpoint();
        // One line that says what this process is, once it serves.
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var o = app.Services.GetRequiredService<CoordinatorOptions>();
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Federated.Coordinator");
            int? arenas = NativeAllocator.Arenas();
            log.LogInformation(
                "Coordinator serving on {Urls}: {Mode} mode, {State}, silo port {SiloPort}, gateway port {GatewayPort}, MKL kernels {MklKernelPath}, malloc arenas {MallocArenas}",
                string.Join(", ", app.Urls), o.Mode,
                o.Mode == CoordinatorMode.Cluster ? "state in Redis" : o.InMemoryState ? $"state in memory, updates in {Path.GetFullPath(o.DataDirectory)}" : $"state and updates in {Path.GetFullPath(o.DataDirectory)}",
                o.SiloPort, o.GatewayPort, MklDispatch.UseAvx512OnAmd(), // chosen at start (Program.cs); this returns that outcome
                arenas?.ToString(CultureInfo.InvariantCulture) ?? "n/a");
            if (arenas > 1)
                log.LogWarning(
                    "glibc's malloc has {MallocArenas} arenas: a round's aggregation memory is faulted in again every round and peak memory grows round after round; " +
                    "start the process with GLIBC_TUNABLES={Tunables}, as the image does", arenas, NativeAllocator.CoordinatorTunables);
            if (app.Services.GetRequiredService<OperatorApiKeys>().GeneratedKeyFile is { } keyFile)
                log.LogWarning(
                    "No operator credentials configured ({Section}:ApiKeys, :Jwt): the admin API accepts the admin key generated in {KeyFile} " +
                    "(export FED_API_KEY=\"$(cat FILE)\", or fed --api-key)", OperatorOptions.Section, keyFile);
        });
        return app;
    }
}
