using Federated.Coordinator.Hosting;
using static Federated.Coordinator.Tests.Hosting.BoundOptions;

namespace Federated.Coordinator.Tests.Hosting;

public sealed class TorchThreadsOptionsTests
{
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
