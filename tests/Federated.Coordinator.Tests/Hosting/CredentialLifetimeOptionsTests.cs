using Federated.Coordinator.Hosting;
using static Federated.Coordinator.Tests.Hosting.BoundOptions;

namespace Federated.Coordinator.Tests.Hosting;

public sealed class CredentialLifetimeOptionsTests
{
    [Fact]
    public void Credentials_live_30_days_with_a_10_minute_rotation_grace_unless_configured()
    {
        var defaults = Bind();
        defaults.Validate();
        Assert.Equal((TimeSpan.FromDays(30), TimeSpan.FromMinutes(10)), (defaults.Agents.CredentialLifetime, defaults.Agents.RotationGrace));

        var set = Bind(("Coordinator:Agents:CredentialLifetime", "7.00:00:00"), ("Coordinator:Agents:RotationGrace", "00:01:00"));
        set.Validate();
        Assert.Equal((TimeSpan.FromDays(7), TimeSpan.FromMinutes(1)), (set.Agents.CredentialLifetime, set.Agents.RotationGrace));
    }

    [Theory]
    [InlineData("CredentialLifetime", "00:00:00", "Coordinator:Agents:CredentialLifetime must be positive")]
    [InlineData("CredentialLifetime", "-1.00:00:00", "Coordinator:Agents:CredentialLifetime must be positive")]
    [InlineData("RotationGrace", "-00:00:01", "Coordinator:Agents:RotationGrace must be between")]
    [InlineData("RotationGrace", "4000.00:00:00", "Coordinator:Agents:RotationGrace must be between")]
    public void A_bad_credential_lifetime_setting_is_refused_naming_it(string key, string value, string message)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Bind(($"Coordinator:Agents:{key}", value)).Validate());
        Assert.StartsWith(message, e.Message);
    }
}
