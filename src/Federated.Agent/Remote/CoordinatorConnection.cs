using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Federated.Agent.Hosting;
using Federated.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Agent.Remote;

/// <summary>
/// The one channel to the coordinator. Once enrolled, every call carries <c>authorization: Bearer &lt;credential&gt;</c>
/// through call credentials; over plaintext they are allowed only because the address was checked to be loopback.
/// </summary>
public sealed class CoordinatorConnection : IDisposable
{
    /// <summary>A 1 MiB chunk plus its framing, with room to spare.</summary>
    const int MaxMessageBytes = (1 << 20) + (64 << 10);
    readonly GrpcChannel _channel;
    readonly CallCredentials _credentials;
    volatile string? _credential;

    public CoordinatorConnection(Uri address, string? caCertificatePath, bool allowPlaintextOnNetwork = false)
    {
        Address = address;
        _credentials = CallCredentials.FromInterceptor((_, metadata) =>
        {
            if (_credential is { } credential) metadata.Add("authorization", "Bearer " + credential);
            return Task.CompletedTask;
        });
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        };
        if (caCertificatePath is not null) handler.SslOptions = TrustOnly(caCertificatePath);
        bool plaintext = address.Scheme == Uri.UriSchemeHttp;
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxSendMessageSize = MaxMessageBytes,
            Credentials = plaintext ? ChannelCredentials.Insecure : ChannelCredentials.SecureSsl,
            // Validation allowed http:// only to loopback (nothing else can read the bearer token) or where the operator said so.
            UnsafeUseInsecureChannelCallCredentials = plaintext && (AgentOptionsValidation.IsLoopback(address) || allowPlaintextOnNetwork),
        });
        Client = new AgentService.AgentServiceClient(_channel);
    }

    public Uri Address { get; }
    public AgentService.AgentServiceClient Client { get; }

    /// <summary>Calls made after this carry the credential.</summary>
    public void UseCredential(string? credential) => _credential = credential;

    /// <summary>Per-call options: the credential, cancellation and an optional deadline.</summary>
    public CallOptions Options(CancellationToken cancellation, TimeSpan? timeout = null) =>
        new(credentials: _credentials, cancellationToken: cancellation, deadline: timeout is { } t ? DateTime.UtcNow + t : null);

    /// <summary>Accepts the coordinator's certificate only if it chains to the given CA (a private PKI).</summary>
    static SslClientAuthenticationOptions TrustOnly(string caPath)
    {
        var ca = X509CertificateLoader.LoadCertificateFromFile(caPath);
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            },
        };
    }

    public void Dispose() => _channel.Dispose();
}
