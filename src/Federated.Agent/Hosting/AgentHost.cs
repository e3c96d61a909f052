using Federated.Agent.Devices;
using Federated.Agent.Remote;
using Federated.Agent.Rounds;
using Federated.Agent.State;
using Federated.Core.Adapters;
using Federated.Core.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Hosting;

/// <summary>Builds the Generic Host: validated options first, then the model and data, then the workers.</summary>
public static class AgentHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        HostApplicationBuilder builder;
        AgentOptions options;
        Uri[] address;
        DetectedDevice device;
        MklKernelPath mkl;
        try
        {
            builder = Host.CreateApplicationBuilder(args);
            builder.Configuration.AddCommandLine(args, AgentCommandLine.SwitchMappings.ToDictionary());
            ConfigureLogging(builder.Logging);
            options = builder.Configuration.GetSection(AgentOptions.Section).Get<AgentOptions>() ?? new AgentOptions();
            address = AgentOptionsValidation.Validate(options, AgentStateStore.HasIdentity(options.StateDirectory));
            mkl = MklDispatch.UseAvx512OnAmd(); // before any tensor work: MKL's AVX-512 kernels on AMD CPUs too
            device = DeviceDetector.Detect(options.Device, options.Precision);
            if (options.TorchThreads > 0) TorchSharp.torch.set_num_threads(options.TorchThreads);
            if (options.GpuMemoryBytes is { } reported) device = device with { GpuMemoryBytes = reported };
        }
        catch (Exception e) when (e is AgentConfigurationException or InvalidOperationException or FormatException or ArgumentException)
        {
            // One line, no stack trace: a setting is missing or wrong, and the line says which.
            Console.Error.WriteLine($"fed-agent: {e.Message}");
            return AgentExit.BadConfiguration;
        }

        AddServices(builder.Services, options, address, device);
        using var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILogger<AgentHostLog>>();
        try
        {
            var model = host.Services.GetRequiredService<LocalModel>();
            logger.LogInformation("fed-agent {Version}: federation {Federation} at {Coordinator}; {Device}, {Threads} CPU threads; model {Model} ({Parameters:N0} parameters); {Examples:N0} training examples{Eval}; state in {StateDirectory}; MKL kernels: {MklKernelPath}",
                DetectedDevice.AgentVersion, options.FederationId, string.Join(", ", address.AsEnumerable()), device.ToString(), TorchSharp.torch.get_num_threads(), options.ModelDirectory, model.Parameters, model.TrainingExamples,
                model.EvaluationExamples is { } n ? $", {n:N0} held-out" : "", Path.GetFullPath(options.StateDirectory), mkl);
        }
        catch (Exception e) when (e is AdapterException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"fed-agent: {e.Message}");
            return AgentExit.BadConfiguration;
        }
        var exit = host.Services.GetRequiredService<AgentExit>(); // RunAsync disposes the container
        await host.RunAsync();
        return exit.Code;
    }

    /// <summary>One line per event with its time; Logging:* settings still override levels and the formatter.</summary>
    static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        logging.AddFilter("Grpc", LogLevel.Warning);
    }

    static void AddServices(IServiceCollection services, AgentOptions options, Uri[] address, DetectedDevice device)
    {
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60)); // a training step finishes before the stop
        services.AddSingleton(options);
        services.AddSingleton(device);
        services.AddSingleton(new AgentExit());
        services.AddSingleton(_ => new AgentStateStore(options.StateDirectory));
        services.AddSingleton(_ => new CoordinatorConnection(address, options.CaCertificate, options.AllowPlaintextOnNetwork,
            options.ClientCertificate is { } certificate ? ClientCertificateFile.Load(certificate, options.ClientKey!) : null));
        services.AddSingleton(_ => new Backoff(TimeSpan.FromSeconds(1), options.MaxRetryDelay));
        services.AddSingleton<RetryPolicy>();
        services.AddSingleton(new UploadSettings(options.UploadChunkBytes, options.UploadBytesPerSecond));
        services.AddSingleton<AdapterDownloader>();
        services.AddSingleton<UpdateUploader>();
        services.AddSingleton<Enrollment>();
        services.AddSingleton<CredentialRotation>();
        services.AddSingleton(_ => LocalModel.Load(options.ModelDirectory!, options.Data!, options.EvalData, options.MaxSequenceLength, device.Device, device.ComputeDtype));
        services.AddSingleton<RoundRunner>();
        services.AddHostedService<AgentWorker>();
        services.AddHostedService<HeartbeatWorker>();
    }

    /// <summary>The category of the start-up line.</summary>
    sealed class AgentHostLog;
}
