namespace Federated.Grains.Clients;

/// <summary>
/// How long a client credential lives and how long a rotated-out one stays valid (<c>Coordinator:Agents:CredentialLifetime</c>,
/// <c>Coordinator:Agents:RotationGrace</c>), and the clock both are measured on.
/// </summary>
public sealed class CredentialPolicy(TimeSpan lifetime, TimeSpan rotationGrace, TimeProvider? time = null)
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromDays(30);
    public static readonly TimeSpan DefaultRotationGrace = TimeSpan.FromMinutes(10);

    public TimeSpan Lifetime { get; } = lifetime;
    public TimeSpan RotationGrace { get; } = rotationGrace;
    public TimeProvider Time { get; } = time ?? TimeProvider.System;

    public DateTime UtcNow => Time.GetUtcNow().UtcDateTime;
}
