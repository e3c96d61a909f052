using Federated.Storage;

namespace Federated.Coordinator.Hosting;

/// <summary>
/// The <c>Coordinator:Staging</c> section: how many uploads may be open (begun, not completed) at once, and how long an
/// abandoned one lives. Embedded mode: the limits are the process's. Cluster mode: the cluster's (one index in Redis).
/// </summary>
public sealed class StagingOptions
{
    /// <summary>Open uploads at once, all clients together; past it a new upload gets ResourceExhausted.</summary>
    public long MaxUploads { get; set; } = 256;

    /// <summary>The sum of the declared sizes of open uploads; at least <see cref="CoordinatorOptions.MaxUpdateBytes"/>.</summary>
    public long MaxBytes { get; set; } = 8L << 30;

    /// <summary>
    /// Open uploads per client across rounds (within a round always one: a new upload id replaces the open one).
    /// Beginning one more replaces the client's oldest.
    /// </summary>
    public int MaxUploadsPerClient { get; set; } = 2;

    /// <summary>
    /// An upload nobody wrote to for this long is removed (by a timer) and its room freed; the default is the default round
    /// deadline. An upload that keeps receiving bytes never expires.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often abandoned uploads are looked for: a quarter of the idle time, at most a minute.</summary>
    public TimeSpan SweepInterval => TimeSpan.FromTicks(Math.Min(IdleTimeout.Ticks / 4, TimeSpan.TicksPerMinute));

    public StagingLimits Limits => new(MaxUploads, MaxBytes, MaxUploadsPerClient);

    /// <exception cref="InvalidOperationException">The message names the setting.</exception>
    public void Validate(long maxUpdateBytes)
    {
        const string Section = CoordinatorOptions.Section + ":Staging";
        if (MaxUploads < 1)
            throw new InvalidOperationException($"{Section}:MaxUploads must be at least 1, not {MaxUploads}");
        if (MaxBytes < maxUpdateBytes)
            throw new InvalidOperationException($"{Section}:MaxBytes ({MaxBytes:N0}) must be at least {CoordinatorOptions.Section}:MaxUpdateBytes ({maxUpdateBytes:N0}), or no upload of the largest allowed size could begin");
        if (MaxUploadsPerClient is < 1 or > 16)
            throw new InvalidOperationException($"{Section}:MaxUploadsPerClient must be between 1 and 16, not {MaxUploadsPerClient}");
        if (IdleTimeout < TimeSpan.FromSeconds(1) || IdleTimeout > TimeSpan.FromDays(7))
            throw new InvalidOperationException($"{Section}:IdleTimeout must be between 00:00:01 and 7.00:00:00, not {IdleTimeout}");
    }
}
