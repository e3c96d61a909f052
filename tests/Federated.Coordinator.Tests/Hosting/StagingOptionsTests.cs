using Federated.Coordinator.Hosting;
using static Federated.Coordinator.Tests.Hosting.BoundOptions;

namespace Federated.Coordinator.Tests.Hosting;

public sealed class StagingOptionsTests
{
    [Fact]
    public void Staging_settings_bind_from_the_coordinator_section_and_default_to_a_bounded_staging()
    {
        var defaults = Bind();
        defaults.Validate();
        Assert.Equal((256L, 8L << 30, 2, TimeSpan.FromMinutes(30)),
            (defaults.Staging.MaxUploads, defaults.Staging.MaxBytes, defaults.Staging.MaxUploadsPerClient, defaults.Staging.IdleTimeout));
        Assert.Equal(TimeSpan.FromMinutes(1), defaults.Staging.SweepInterval);

        var set = Bind(("Coordinator:Staging:MaxUploads", "10"), ("Coordinator:Staging:MaxBytes", "4294967296"),
            ("Coordinator:Staging:MaxUploadsPerClient", "1"), ("Coordinator:Staging:IdleTimeout", "00:02:00"));
        set.Validate();
        Assert.Equal(new Federated.Storage.StagingLimits(10, 4L << 30, 1), set.Staging.Limits);
        Assert.Equal(TimeSpan.FromSeconds(30), set.Staging.SweepInterval);
    }

    [Theory]
    [InlineData("MaxUploads", "0", "Coordinator:Staging:MaxUploads must be at least 1")]
    [InlineData("MaxBytes", "1048576", "Coordinator:Staging:MaxBytes (1,048,576) must be at least Coordinator:MaxUpdateBytes")]
    [InlineData("MaxUploadsPerClient", "0", "Coordinator:Staging:MaxUploadsPerClient must be between 1 and 16")]
    [InlineData("IdleTimeout", "00:00:00.5", "Coordinator:Staging:IdleTimeout must be between")]
    public void A_bad_staging_setting_is_refused_naming_it(string key, string value, string message)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Bind(($"Coordinator:Staging:{key}", value)).Validate());
        Assert.StartsWith(message, e.Message);
    }
}
