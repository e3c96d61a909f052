namespace Federated.Agent.Remote;

/// <summary>The coordinator's <c>credential_expires_at</c> (unix seconds) and when to rotate before it.</summary>
public static class CredentialExpiry
{
    /// <summary>Null for 0 (a coordinator without expiry) or a value no clock reaches (untrusted input is not thrown on).</summary>
    public static DateTimeOffset? FromUnixSeconds(long seconds) =>
        seconds > 0 && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds() ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;

    /// <summary>Less than a third of the credential's lifetime (issue to expiry) is left at <paramref name="now"/>.</summary>
    public static bool IsDue(DateTimeOffset issuedAt, DateTimeOffset expiresAt, DateTimeOffset now) =>
        expiresAt - now < (expiresAt - issuedAt) / 3;
}
