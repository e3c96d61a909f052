using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Core.Tests.Runtime;

public class NativeThreadsTests
{
    [Fact]
    public void A_scope_makes_this_threads_libtorch_and_mkl_calls_single_threaded_leaves_other_threads_alone_and_restores()
    {
        int before = get_num_threads(); // libtorch's OpenMP build answers with the calling thread's OpenMP setting
        int? mklBefore = NativeThreads.MklThreads();
        Assert.True(before > 1 || Environment.ProcessorCount == 1, $"libtorch uses {before} threads on {Environment.ProcessorCount} cores");
        Assert.NotNull(mklBefore); // libtorch's CPU build links MKL: the scope must find it

        int inside, mklInside, otherThread = 0;
        using (NativeThreads.OnePerWorker())
        {
            inside = get_num_threads();
            mklInside = NativeThreads.MklThreads()!.Value;
            var other = new Thread(() => otherThread = get_num_threads());
            other.Start();
            other.Join();
            // Still correct inside the scope: a product on this thread uses one thread.
            using var a = ones(64, 64);
            using var product = a.mm(a);
            Assert.Equal(64f, product[0, 0].item<float>());
        }

        Assert.Equal(1, inside);
        Assert.Equal(1, mklInside);
        Assert.Equal(before, otherThread);
        Assert.Equal(before, get_num_threads());
        Assert.Equal(mklBefore, NativeThreads.MklThreads());
    }
}
