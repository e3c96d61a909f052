using System.Net;
using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Federated.Coordinator.Hosting;

namespace Federated.Coordinator.Agents;

/// <summary>The gRPC endpoint agents talk to, with its health service (the standard grpc.health.v1, for probes).</summary>
public static class AgentEndpoint
{
    /// <summary>The Kestrel endpoint agents use (<c>Kestrel:Endpoints:grpc</c>): client certificates are asked for on it alone.</summary>
    public const string KestrelEndpointName = "grpc";

    public static WebApplicationBuilder AddAgentEndpoint(this WebApplicationBuilder builder, CoordinatorOptions options)
    {
        RequireTlsOffLoopback(builder.Configuration, options);
        RequestClientCertificates(builder, options.Agents);
        builder.Services.AddSingleton<AddressRateLimits>();
        builder.Services.AddSingleton<AgentConnections>();
        builder.Services.AddSingleton<AgentAuthentication>();
        builder.Services.AddSingleton<AgentEnrollment>();
        builder.Services.AddSingleton<UpdateUploads>();
        builder.Services.AddSingleton<RefusalSummary>();
        builder.Services.AddSingleton(new UploadStreams(options.Staging.MaxUploadsPerClient));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddGrpc(o =>
        {
            // A data chunk plus the message framing; anything larger is refused by gRPC itself (ResourceExhausted).
            o.MaxReceiveMessageSize = options.MaxChunkBytes + 4096;
            o.MaxSendMessageSize = options.MaxChunkBytes + 4096;
            o.Interceptors.Add<RefusalSummary>(); // outermost: sees every refusal, authentication's included
            o.Interceptors.Add<AgentAuthentication>();
        });
        builder.Services.AddGrpcHealthChecks(); // reports the same checks as /readyz
        builder.WebHost.ConfigureKestrel(kestrel => SizeWindowsForUploads(kestrel.Limits.Http2, options.MaxChunkBytes));
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>(); // Kestrel's buffers, for bulk uploads
        // Outermost on the agents' connections, before TLS: a blocked address costs an accept and a close.
        builder.ConfigureEndpoint(KestrelEndpointName, (endpoint, services) => endpoint.ListenOptions.Use(services.GetRequiredService<AgentConnections>().Gate));
        return builder;
    }

    /// <summary>
    /// Uploads are bulk transfers: Kestrel's default HTTP/2 receive windows (96 KiB per stream) stall a sender every few
    /// frames on a fast link. Windows of a few chunks keep it streaming; memory stays bounded by them. Never below the
    /// defaults (Kestrel refuses windows under 64 KiB, which small chunk limits would give).
    /// </summary>
    public static void SizeWindowsForUploads(Http2Limits http2, int maxChunkBytes)
    {
        http2.InitialStreamWindowSize = Math.Max(http2.InitialStreamWindowSize, 4 * maxChunkBytes);
        http2.InitialConnectionWindowSize = Math.Max(http2.InitialConnectionWindowSize, 8 * maxChunkBytes);
    }

    public static WebApplication MapAgentEndpoint(this WebApplication app)
    {
        app.MapGrpcService<AgentService>();
        app.MapGrpcHealthChecksService();
        return app;
    }

    /// <summary>
    /// Mutual TLS on the agents' endpoint (<c>Coordinator:Agents:ClientCertificates</c>): Kestrel asks for a client
    /// certificate during the handshake (HTTP/2 cannot ask later) and accepts only one chaining to the configured CA, so a
    /// missing (Required) or foreign certificate ends the connection before any call. Binding to a client id is
    /// <see cref="AgentAuthentication"/>'s part.
    /// </summary>
    static void RequestClientCertificates(WebApplicationBuilder builder, AgentCertificateOptions agents)
    {
        if (agents.ClientCertificates == ClientCertificateRequirement.Off) return;
        string key = $"Kestrel:Endpoints:{KestrelEndpointName}";
        string? url = builder.Configuration[$"{key}:Url"];
        if (url is null || !url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            throw new InvalidCoordinatorConfigurationException(
                $"{CoordinatorOptions.Section}:Agents:ClientCertificates={agents.ClientCertificates} needs the agents' endpoint to serve TLS: " +
                $"{key}:Url must be https:// (with {key}:Certificate:Path and KeyPath), not '{url}'");
        var ca = X509CertificateLoader.LoadCertificateFromFile(agents.ClientCaPath!);
        builder.Services.AddSingleton(sp => new ClientCertificates(ca, sp.GetRequiredService<ILogger<ClientCertificates>>()));
        var mode = agents.ClientCertificates == ClientCertificateRequirement.Required
            ? ClientCertificateMode.RequireCertificate
            : ClientCertificateMode.AllowCertificate;
        builder.ConfigureEndpoint(KestrelEndpointName, (endpoint, services) =>
        {
            var certificates = services.GetRequiredService<ClientCertificates>();
            endpoint.HttpsOptions.ClientCertificateMode = mode;
            endpoint.HttpsOptions.ClientCertificateValidation = certificates.Validate;
        });
    }

    /// <summary>Plaintext (h2c) only on loopback: credentials and adapters cross the network encrypted or not at all.</summary>
    static void RequireTlsOffLoopback(IConfiguration configuration, CoordinatorOptions options)
    {
        if (options.AllowPlaintextOnNetwork) return;
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            string? url = endpoint["Url"];
            if (url is null || !url.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) continue;
            string host = new Uri(url.Replace("*", "0.0.0.0").Replace("+", "0.0.0.0")).Host;
            bool loopback = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
            if (!loopback)
                throw new InvalidCoordinatorConfigurationException(
                    $"Kestrel:Endpoints:{endpoint.Key}:Url is plaintext on {host}: serve https with a certificate (Kestrel:Endpoints:{endpoint.Key}:Certificate:Path and KeyPath), " +
                    $"bind to loopback, or set {CoordinatorOptions.Section}:AllowPlaintextOnNetwork behind a TLS-terminating proxy");
        }
    }
}
