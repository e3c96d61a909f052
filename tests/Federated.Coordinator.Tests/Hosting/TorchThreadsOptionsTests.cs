using Federated.Coordinator.Hosting;
using Microsoft.Extensions.Configuration;

namespace Federated.Coordinator.Tests.Hosting;

public sealed class TorchThreadsOptionsTests
{
    static CoordinatorOptions Bind(params (string Key, string Value)[] settings)
    {
        var options = new CoordinatorOptions();
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build()
            .GetSection(CoordinatorOptions.Section).Bind(options);
        return options;
    }

    [Fact]
    public void Libtorch_runs_one_intra_op_thread_in_the_coordinator_unless_configured()
    {
        Assert.Equal(1, Bind().TorchThreads);
        var set = Bind(("Coordinator:TorchThreads", "0"));
        set.Validate();
        Assert.Equal(0, set.TorchThreads);
    }

    [Fact]
    public void A_negative_thread_count_is_refused_naming_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Bind(("Coordinator:TorchThreads", "-2")).Validate());
        Assert.StartsWith("Coordinator:TorchThreads must be 0", e.Message);
    }
}
