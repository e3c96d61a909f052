using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Federated.Agent.Hosting;
using Federated.Protocol.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Federated.Agent.Remote;

/// <summary>
/// The channel to the coordinator: one per configured address (the silos of one cluster), of which one is in use until
/// <see cref="Failover"/>. Once enrolled, every call carries <c>authorization: Bearer &lt;credential&gt;</c> through call
/// credentials; over plaintext they are allowed only because the address was checked to be loopback (or the operator said so).
/// </summary>
public sealed class CoordinatorConnection : IDisposable
{
    /// <summary>A 1 MiB chunk plus its framing, with room to spare.</summary>
    const int MaxMessageBytes = (1 << 20) + (64 << 10);
    readonly GrpcChannel[] _channels;
    readonly AgentService.AgentServiceClient[] _clients;
    readonly CallCredentials _credentials;
    volatile string? _credential;
    int _current;

    public CoordinatorConnection(Uri address, string? caCertificatePath, bool allowPlaintextOnNetwork = false, X509Certificate2? clientCertificate = null)
        : this([address], caCertificatePath, allowPlaintextOnNetwork, clientCertificate) { }

    /// <param name="addresses">Addresses of the same coordinator; the first is used first.</param>
    /// <param name="clientCertificate">Presented when the coordinator asks for one (mutual TLS); owned by the caller.</param>
    public CoordinatorConnection(IReadOnlyList<Uri> addresses, string? caCertificatePath, bool allowPlaintextOnNetwork = false, X509Certificate2? clientCertificate = null)
    {
        if (addresses.Count == 0) throw new ArgumentException("at least one coordinator address is needed", nameof(addresses));
        Addresses = addresses;
        _credentials = CallCredentials.FromInterceptor((_, metadata) =>
        {
            if (_credential is { } credential) metadata.Add("authorization", "Bearer " + credential);
            return Task.CompletedTask;
        });
        _channels = [.. addresses.Select(a => Open(a, caCertificatePath, allowPlaintextOnNetwork, clientCertificate))];
        _clients = [.. _channels.Select(c => new AgentService.AgentServiceClient(c))];
    }

    GrpcChannel Open(Uri address, string? caCertificatePath, bool allowPlaintextOnNetwork, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        };
        if (caCertificatePath is not null) handler.SslOptions = TrustOnly(caCertificatePath);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            // Always this one: the coordinator need not name its client CA in the handshake for the agent to pick it.
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        bool plaintext = address.Scheme == Uri.UriSchemeHttp;
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxSendMessageSize = MaxMessageBytes,
            Credentials = plaintext ? ChannelCredentials.Insecure : ChannelCredentials.SecureSsl,
            // Validation allowed http:// only to loopback (nothing else can read the bearer token) or where the operator said so.
            UnsafeUseInsecureChannelCallCredentials = plaintext && (AgentOptionsValidation.IsLoopback(address) || allowPlaintextOnNetwork),
        });
    }

    /// <summary>Every configured address of the coordinator.</summary>
    public IReadOnlyList<Uri> Addresses { get; }
    /// <summary>The address calls go to now.</summary>
    public Uri Address => Addresses[Volatile.Read(ref _current)];
    public AgentService.AgentServiceClient Client => _clients[Volatile.Read(ref _current)];

    /// <summary>
    /// A call to <paramref name="failed"/> could not reach it: moves on to the next address, unless another caller already
    /// did. Returns the address calls go to now, or null with a single address.
    /// </summary>
    public Uri? Failover(Uri failed)
    {
        if (Addresses.Count == 1) return null;
        int at = _current;
        if (Addresses[at] == failed) Interlocked.CompareExchange(ref _current, (at + 1) % Addresses.Count, at);
        return Address;
    }

    /// <summary>Calls made after this carry the credential.</summary>
    public void UseCredential(string? credential) => _credential = credential;

    /// <summary>Per-call options: the credential, cancellation and an optional deadline.</summary>
    public CallOptions Options(CancellationToken cancellation, TimeSpan? timeout = null) =>
        new(credentials: _credentials, cancellationToken: cancellation, deadline: timeout is { } t ? DateTime.UtcNow + t : null);

    /// <summary>
    /// Accepts the coordinator's certificate only if it chains to the given CA (a private PKI). TLS itself validates it
    /// against this policy (and the name against the address), so a refusal says why (e.g. PartialChain, NameMismatch).
    /// </summary>
    static SslClientAuthenticationOptions TrustOnly(string caPath)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificateFromFile(caPath));
        return new SslClientAuthenticationOptions { CertificateChainPolicy = policy };
    }

    public void Dispose()
    {
        foreach (var channel in _channels) channel.Dispose();
    }
}
