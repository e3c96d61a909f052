namespace Federated.Agent.Remote;

/// <summary>
/// Exponential backoff with jitter: attempt n waits a random time in [cap/2, cap] where cap = min(max, initial * 2^n),
/// so agents that lost the coordinator together do not come back in lockstep, yet never wait less than half the cap.
/// </summary>
public sealed class Backoff(TimeSpan initial, TimeSpan max, Random? random = null)
{
    readonly Random _random = random ?? Random.Shared;

    public TimeSpan Initial { get; } = initial;
    public TimeSpan Max { get; } = max;

    /// <summary>The upper bound of attempt <paramref name="attempt"/>'s delay (0-based).</summary>
    public TimeSpan Cap(int attempt)
    {
        double factor = Math.Pow(2, Math.Min(attempt, 30));
        return TimeSpan.FromTicks((long)Math.Min(Max.Ticks, Initial.Ticks * factor));
    }

    public TimeSpan Delay(int attempt)
    {
        var cap = Cap(attempt);
        return TimeSpan.FromTicks(cap.Ticks / 2 + (long)(_random.NextDouble() * (cap.Ticks - cap.Ticks / 2)));
    }
}
