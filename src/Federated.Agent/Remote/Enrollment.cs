using Federated.Agent.Devices;
using Federated.Agent.Hosting;
using Federated.Agent.State;
using Federated.Agent.Trust;
using Federated.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Remote;

/// <summary>
/// The agent's identity: the one in the state directory when it is for this coordinator (any of its configured
/// addresses: the silos of one cluster) and federation, else a new one from Register (the credential is written,
/// owner-only, before it is used).
/// </summary>
public sealed class Enrollment(CoordinatorConnection connection, AgentStateStore state, RetryPolicy retry, DetectedDevice device,
    AgentOptions options, ILogger<Enrollment> logger)
{
    public ClientIdentity? Current { get; private set; }

    public async Task<ClientIdentity> EnsureAsync(CancellationToken cancellation)
    {
        var stored = state.LoadIdentity();
        if (stored is not null && stored.FederationId == options.FederationId && connection.Addresses.Any(a => a.ToString() == stored.Coordinator))
        {
            logger.LogInformation("Client {ClientId} of federation {Federation} (enrolled {EnrolledAt:u})", stored.ClientId, stored.FederationId, stored.EnrolledAt);
            return Use(stored);
        }
        if (stored is not null)
            logger.LogInformation("The state directory's credential is for {Federation} at {Coordinator}; enrolling in {Wanted} at {Address}",
                stored.FederationId, stored.Coordinator, options.FederationId, connection.Address);
        return await RegisterAsync(cancellation);
    }

    /// <summary>The coordinator refused the credential: enroll anew if a token is set, unless an operator revoked this client.</summary>
    /// <param name="refusal">Revoked: forget the identity and stop (enrolling again is the participant's decision). Expired: forget it,
    /// then enroll again if a token is set. Unknown (the coordinator's state was reset): enroll again if a token is set.</param>
    public async Task<ClientIdentity> ReenrollAsync(string reason, CredentialRefusal refusal, CancellationToken cancellation)
    {
        if (refusal == CredentialRefusal.Revoked)
        {
            state.ForgetIdentity();
            throw new AgentStateException($"the coordinator's operator revoked this client ({reason}); its identity is forgotten, and a restart enrolls again with the configured token");
        }
        bool expired = refusal == CredentialRefusal.Expired;
        if (string.IsNullOrWhiteSpace(options.EnrollmentToken))
        {
            if (!expired)
                throw new AgentStateException($"the coordinator refused this agent's credential ({reason}) and no {AgentOptions.Section}:EnrollmentToken is set to enroll again");
            state.ForgetIdentity();
            throw new AgentStateException($"this client's credential expired before it was rotated ({reason}); its identity is forgotten, and no {AgentOptions.Section}:EnrollmentToken is set to enroll again");
        }
        if (expired)
            logger.LogWarning("This client's credential expired before it was rotated ({Reason}); its identity is forgotten, enrolling again", reason);
        else
            logger.LogWarning("The coordinator refused the stored credential ({Reason}); enrolling again", reason);
        state.ForgetIdentity();
        connection.UseCredential(null);
        return await RegisterAsync(cancellation);
    }

    /// <summary>Saves <paramref name="identity"/> durably (atomic replace, owner-only), then sends it with every call.</summary>
    /// <exception cref="IOException">Not saved: the identity in use is unchanged.</exception>
    public ClientIdentity Replace(ClientIdentity identity)
    {
        state.SaveIdentity(identity);
        return Use(identity);
    }

    async Task<ClientIdentity> RegisterAsync(CancellationToken cancellation)
    {
        var request = new RegisterRequest { FederationId = options.FederationId, EnrollmentToken = options.EnrollmentToken, Device = device.ToProto() };
        connection.UseCredential(null);
        var response = await retry.RunAsync("Register", ct => connection.Client.RegisterAsync(request, connection.Options(ct, TimeSpan.FromSeconds(30))).ResponseAsync, cancellation);
        CheckRegistration(response);
        var now = DateTimeOffset.UtcNow;
        var identity = new ClientIdentity(connection.Address.ToString(), options.FederationId!, response.ClientId, response.ClientCredential,
            response.AssignedRank, now, now, CredentialExpiry.FromUnixSeconds(response.CredentialExpiresAt));
        state.SaveIdentity(identity);
        logger.LogInformation("Enrolled in federation {Federation} as {ClientId} on {Device}: assigned rank {Rank}, alpha {Alpha}",
            identity.FederationId, identity.ClientId, device.ToString(), response.AssignedRank, response.LoraAlpha);
        return Use(identity);
    }

    /// <summary>The identity is stored and sent with every call: a short id and a credential of visible ASCII (a header value).</summary>
    static void CheckRegistration(RegisterResponse response)
    {
        if (response.ClientId.Length is 0 or > CoordinatorLimits.MaxClientIdLength || !response.ClientId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new CoordinatorInputException($"Register: the coordinator's client_id '{CoordinatorText.Preview(response.ClientId)}' is not 1 to {CoordinatorLimits.MaxClientIdLength} letters, digits, '-', '_' or '.'");
        CheckCredential("Register", response.ClientCredential);
    }

    /// <summary>A credential is sent as a header value: visible ASCII, bounded.</summary>
    public static void CheckCredential(string call, string credential)
    {
        if (credential.Length is 0 or > CoordinatorLimits.MaxCredentialLength || !credential.All(c => c is > ' ' and < '\x7f'))
            throw new CoordinatorInputException($"{call}: the coordinator's credential is not 1 to {CoordinatorLimits.MaxCredentialLength} visible ASCII characters");
    }

    ClientIdentity Use(ClientIdentity identity)
    {
        connection.UseCredential(identity.Credential);
        Current = identity;
        return identity;
    }
}
