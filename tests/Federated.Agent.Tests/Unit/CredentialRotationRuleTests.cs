using Federated.Agent.Remote;

namespace Federated.Agent.Tests.Unit;

/// <summary>When the agent rotates, and what it makes of a coordinator's expiry it cannot use.</summary>
public sealed class CredentialRotationRuleTests
{
    static readonly DateTimeOffset Issued = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_credential_is_rotated_once_less_than_a_third_of_its_lifetime_is_left()
    {
        var expires = Issued.AddDays(30);
        Assert.False(CredentialExpiry.IsDue(Issued, expires, Issued.AddDays(19)));
        Assert.False(CredentialExpiry.IsDue(Issued, expires, Issued.AddDays(20)));
        Assert.True(CredentialExpiry.IsDue(Issued, expires, Issued.AddDays(20).AddSeconds(1)));
        Assert.True(CredentialExpiry.IsDue(Issued, expires, expires.AddDays(1)));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-5L)]
    [InlineData(long.MaxValue)]
    public void An_expiry_of_zero_or_beyond_any_clock_means_unknown_rather_than_an_error(long seconds) =>
        Assert.Null(CredentialExpiry.FromUnixSeconds(seconds));

    [Fact]
    public void An_expiry_in_unix_seconds_is_read_as_utc() =>
        Assert.Equal(Issued, CredentialExpiry.FromUnixSeconds(Issued.ToUnixTimeSeconds()));
}
