using System.Threading.RateLimiting;
using Federated.Coordinator.Hosting;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Budgets per source address (<see cref="PeerAddress"/>), spent before any grain is touched: all calls, registrations,
/// and failed authentications. Once an address's failures are spent, its calls are refused unread until the budget refills,
/// so made-up credentials cost the coordinator one token-bucket lookup each, and <see cref="AgentConnections"/> closes its
/// connections and refuses new ones at accept, so they cost nothing more. Idle partitions are dropped by the limiter.
/// </summary>
public sealed class AddressRateLimits : IDisposable
{
    readonly CoordinatorOptions _options;
    readonly PartitionedRateLimiter<string> _calls, _registrations;
    readonly FailureBudget _failures;

    /// <summary>Raised once when an address spends its last failed authentication.</summary>
    public event Action<string>? Blocked;

    public AddressRateLimits(CoordinatorOptions options)
    {
        _options = options;
        _calls = Buckets(options.AddressCallsPerSecond * 2, options.AddressCallsPerSecond, TimeSpan.FromSeconds(1));
        // Per minute, replenished evenly: a burst of a minute's worth, then one every 60/n seconds.
        _registrations = Buckets(options.RegistrationsPerMinute, 1, TimeSpan.FromMinutes(1.0 / options.RegistrationsPerMinute));
        _failures = new FailureBudget(options.FailedAuthenticationsPerMinute);
    }

    static PartitionedRateLimiter<string> Buckets(int limit, int perPeriod, TimeSpan period) =>
        PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = perPeriod,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
        }));

    /// <summary>Every call, first: the address's overall budget.</summary>
    /// <exception cref="RpcException">ResourceExhausted, saying which budget and the address.</exception>
    public void AdmitCall(string address)
    {
        using var lease = _calls.AttemptAcquire(address);
        if (!lease.IsAcquired)
            throw Exhausted($"at most {_options.AddressCallsPerSecond} calls per second from {address}");
    }

    /// <summary>
    /// Runs a credential or token lookup for <paramref name="address"/> within its failure budget: refused unread when the budget
    /// is spent, and a refusal (Unauthenticated) spends one unit.
    /// </summary>
    public async Task<T> AuthenticateAsync<T>(string address, Func<Task<T>> lookup)
    {
        if (!_failures.TryBegin(address))
            throw Exhausted($"too many failed authentications from {address} (at most {_options.FailedAuthenticationsPerMinute} a minute); its calls are refused until that budget refills");
        bool failed = false;
        try { return await lookup(); }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated)
        {
            failed = true;
            throw;
        }
        finally
        {
            if (_failures.End(address, failed)) Blocked?.Invoke(address);
        }
    }

    /// <summary>Whether <paramref name="address"/> has spent its failed authentications: its calls would be refused unread.</summary>
    public bool IsBlocked(string address) => _failures.IsSpent(address);

    /// <exception cref="RpcException">ResourceExhausted when the address registered too often.</exception>
    public void AdmitRegistration(string address)
    {
        using var lease = _registrations.AttemptAcquire(address);
        if (!lease.IsAcquired)
            throw Exhausted($"at most {_options.RegistrationsPerMinute} registrations a minute from {address}");
    }

    static RpcException Exhausted(string why) => new(new Status(StatusCode.ResourceExhausted, $"rate limit: {why}; slow down and retry later"));

    public void Dispose()
    {
        _calls.Dispose();
        _registrations.Dispose();
    }
}
