using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Federated.Contracts;
using Federated.Coordinator.Hosting;
using Federated.Protocol.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Every agent call but Register must carry <c>authorization: Bearer &lt;client_id&gt;.&lt;secret&gt;</c>; the client's
/// grain checks the credential's SHA-256 against the one it stored at enrollment. Before any grain is touched, each call
/// spends its source address's budgets (<see cref="AddressRateLimits"/>: calls, registrations, failed authentications), and
/// a credential not shaped as Register issues it is refused unread. Authenticated calls are then rate-limited per client,
/// so one agent cannot starve the others.
/// </summary>
public sealed class AgentAuthentication : Interceptor, IDisposable
{
    const string ClientKey = "federated.client";
    const string CredentialKey = "federated.credential-sha256";
    readonly IGrainFactory _grains;
    readonly PartitionedRateLimiter<string> _limiter;
    readonly int _callsPerSecond;
    readonly AddressRateLimits _addresses;
    readonly ClientCertificateRequirement _certificates;

    public AgentAuthentication(IGrainFactory grains, CoordinatorOptions options, AddressRateLimits addresses)
    {
        _grains = grains;
        _addresses = addresses;
        _callsPerSecond = options.AgentCallsPerSecond;
        _certificates = options.Agents.ClientCertificates;
        _limiter = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = 2 * _callsPerSecond,
            TokensPerPeriod = _callsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
        }));
    }

    /// <summary>The authenticated caller's client id (set by this interceptor before the handler runs).</summary>
    public static string ClientOf(ServerCallContext context) => (string)context.UserState[ClientKey];

    /// <summary>The SHA-256 of the credential the authenticated call presented (what the client grain stores).</summary>
    public static string CredentialOf(ServerCallContext context) => (string)context.UserState[CredentialKey];

    public static string HashCredential(string credential) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(credential)));

    static bool IsRegister(ServerCallContext context) => context.Method.EndsWith("/Register", StringComparison.Ordinal);

    async Task AdmitAsync(ServerCallContext context)
    {
        string address = PeerAddress.Of(context.Peer);
        _addresses.AdmitCall(address);
        if (IsRegister(context))
        {
            _addresses.AdmitRegistration(address);
            return;
        }
        string client = await _addresses.AuthenticateAsync(address, () => AuthenticateAsync(context));
        await RequireBoundCertificateAsync(context, client);
        context.UserState[ClientKey] = client;
        using var lease = _limiter.AttemptAcquire("client:" + client);
        if (!lease.IsAcquired)
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"rate limit: at most {_callsPerSecond} calls per second per client; slow down and retry"));
    }

    async Task<string> AuthenticateAsync(ServerCallContext context)
    {
        string? header = context.RequestHeaders.GetValue("authorization");
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "no credential: send 'authorization: Bearer <client_credential>' (Register returns it)"));
        string credential = header["Bearer ".Length..].Trim();
        int dot = credential.IndexOf('.');
        if (dot <= 0 || dot == credential.Length - 1)
            throw new RpcException(new Status(StatusCode.Unauthenticated, "malformed credential: expected '<client_id>.<secret>' as Register returned it"));
        string client = credential[..dot];
        if (!CredentialFormat.IsIssued(credential))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "unknown credential: register again with an enrollment token"));
        string hash = HashCredential(credential);
        context.UserState[CredentialKey] = hash;
        return await _grains.GetGrain<IClientGrain>(client).VerifyAsync(hash) switch
        {
            CredentialStatus.Valid => client,
            CredentialStatus.Revoked => throw new RpcException(new Status(StatusCode.Unauthenticated, $"credential revoked: client '{client}' was revoked by an operator; enroll again only with a new enrollment token"),
                new Metadata { { CredentialTrailers.Status, CredentialTrailers.Revoked } }),
            CredentialStatus.Expired => throw new RpcException(new Status(StatusCode.Unauthenticated, $"credential expired: client '{client}''s credential outlived its lifetime without being rotated; enroll again with an enrollment token"),
                new Metadata { { CredentialTrailers.Status, CredentialTrailers.Expired } }),
            _ => throw new RpcException(new Status(StatusCode.Unauthenticated, "unknown credential: register again with an enrollment token")),
        };
    }

    /// <summary>
    /// With client certificates on, a credential is valid only over a connection presenting the certificate key its client
    /// enrolled with: a stolen credential is useless without that key. A client that enrolled without a certificate
    /// (Optional) is not bound; under Required it is refused (it enrolled before certificates were required).
    /// </summary>
    async Task RequireBoundCertificateAsync(ServerCallContext context, string client)
    {
        if (_certificates == ClientCertificateRequirement.Off) return;
        string? bound = await _grains.GetGrain<IClientGrain>(client).GetCertificateBindingAsync();
        string? presented = ClientCertificates.PresentedKeySha256(context);
        if (bound is null)
        {
            if (_certificates == ClientCertificateRequirement.Required)
                throw new RpcException(new Status(StatusCode.Unauthenticated, "this client enrolled without a client certificate, which this coordinator now requires: enroll again with one"));
            return;
        }
        if (presented is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(bound), Encoding.ASCII.GetBytes(presented)))
            throw new RpcException(new Status(StatusCode.Unauthenticated, presented is null
                ? "this client is bound to the client certificate it enrolled with: present that certificate"
                : "the client certificate is not the one this client enrolled with: present that certificate (or enroll again with this one)"));
    }

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        await AdmitAsync(context);
        // Register checks its enrollment token within the same failure budget as credentials.
        return IsRegister(context)
            ? await _addresses.AuthenticateAsync(PeerAddress.Of(context.Peer), () => continuation(request, context))
            : await continuation(request, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AdmitAsync(context);
        return await continuation(requestStream, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AdmitAsync(context);
        await continuation(request, responseStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AdmitAsync(context);
        await continuation(requestStream, responseStream, context);
    }

    public void Dispose() => _limiter.Dispose();
}
