using System.Collections.Concurrent;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Core.Tests.Runtime;

public class CoreWorkersTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Every_index_runs_exactly_once(int count)
    {
        var runs = new int[count];
        CoreWorkers.For(count, i => Interlocked.Increment(ref runs[i]));
        Assert.All(runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void Items_run_on_several_threads_at_once()
    {
        if (Environment.ProcessorCount < 2) return; // one core: one worker, nothing to overlap
        // Each of the first items waits until another thread has entered: only threads running at the same time get past.
        var entered = new ConcurrentDictionary<int, bool>();
        bool overlapped = true;
        CoreWorkers.For(Environment.ProcessorCount, _ =>
        {
            entered.TryAdd(Environment.CurrentManagedThreadId, true);
            if (!SpinWait.SpinUntil(() => entered.Count >= 2, TimeSpan.FromSeconds(10))) overlapped = false;
        });
        Assert.True(overlapped, "an item waited 10 s without a second thread entering the loop");
    }

    [Theory]
    [InlineData(1)] // inline on the caller's thread
    [InlineData(64)]
    public void Items_call_libtorch_single_threaded_and_the_callers_setting_comes_back(int count)
    {
        int before = get_num_threads();
        Assert.True(before > 1 || Environment.ProcessorCount == 1, $"libtorch uses {before} threads on {Environment.ProcessorCount} cores");
        var inside = new ConcurrentBag<int>();
        CoreWorkers.For(count, _ => inside.Add(get_num_threads()));
        Assert.Equal(count, inside.Count);
        Assert.All(inside, n => Assert.Equal(1, n));
        Assert.Equal(before, get_num_threads());
    }

    [Fact]
    public void The_first_exception_stops_the_loop_and_is_rethrown_as_itself_and_the_workers_stay_usable()
    {
        const int Count = 100_000;
        int ran = 0;
        var e = Assert.Throws<InvalidOperationException>(() => CoreWorkers.For(Count, i =>
        {
            Interlocked.Increment(ref ran);
            if (i == 3) throw new InvalidOperationException("item 3 failed");
            Thread.SpinWait(200);
        }));
        Assert.Equal("item 3 failed", e.Message);
        Assert.True(ran < Count / 2, $"{ran:N0} of {Count:N0} items ran after the failure");

        var runs = new int[100];
        CoreWorkers.For(runs.Length, i => Interlocked.Increment(ref runs[i]));
        Assert.All(runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void A_loop_started_inside_an_item_runs_inline_on_that_items_thread()
    {
        var outer = new int[8];
        var inner = new int[8, 16];
        bool sameThread = true;
        CoreWorkers.For(outer.Length, i =>
        {
            int thread = Environment.CurrentManagedThreadId;
            CoreWorkers.For(16, j =>
            {
                Interlocked.Increment(ref inner[i, j]);
                if (Environment.CurrentManagedThreadId != thread) sameThread = false;
            });
            Interlocked.Increment(ref outer[i]);
        });
        Assert.All(outer, r => Assert.Equal(1, r));
        Assert.All(inner.Cast<int>(), r => Assert.Equal(1, r));
        Assert.True(sameThread);
    }

    [Fact]
    public async Task Two_callers_at_once_both_run_every_index_once()
    {
        var first = new int[200];
        var second = new int[200];
        void Loop(int[] runs) => CoreWorkers.For(runs.Length, i =>
        {
            Thread.Sleep(1); // long enough for the two loops to overlap
            Interlocked.Increment(ref runs[i]);
        });
        var a = Task.Run(() => Loop(first));
        var b = Task.Run(() => Loop(second));
        await Task.WhenAll(a, b);
        Assert.All(first, r => Assert.Equal(1, r));
        Assert.All(second, r => Assert.Equal(1, r));
    }

    [Fact]
    public async Task Thousands_of_short_loops_from_four_threads_all_finish()
    {
        // Short loops back to back exercise every order of a worker going to sleep and a loop being handed to it.
        var callers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            long sum = 0;
            for (int loop = 0; loop < 2_000; loop++)
            {
                var runs = new int[8];
                CoreWorkers.For(runs.Length, i => Interlocked.Increment(ref runs[i]));
                sum += runs.Sum();
            }
            return sum;
        })).ToArray();
        var all = Task.WhenAll(callers);
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(120)))); // a lost wake would hang a caller
        Assert.All(await all, sum => Assert.Equal(2_000 * 8, sum));
    }

    [Fact]
    public void Workers_are_pinned_each_to_a_cpu_of_its_own_when_the_process_owns_whole_cpus()
    {
        var owned = CoreWorkers.OwnedCpus();
        if (!OperatingSystem.IsLinux()) return;
        Assert.NotNull(owned); // this machine's tests run on whole CPUs; under a CPU quota the workers are not pinned
        if (owned.Length < 2) return;
        var cpus = new ConcurrentDictionary<string, ConcurrentBag<int>>();
        for (int round = 0; round < 20; round++)
            CoreWorkers.For(64, _ =>
            {
                if (Thread.CurrentThread.Name is { } name && name.StartsWith("fed-core-", StringComparison.Ordinal))
                    cpus.GetOrAdd(name, _ => []).Add(CoreWorkers.CurrentCpu());
                Thread.SpinWait(1000);
            });
        Assert.NotEmpty(cpus);
        var pinned = cpus.ToDictionary(p => p.Key, p => p.Value.Distinct().ToList());
        Assert.All(pinned, p => Assert.Single(p.Value)); // a worker never runs elsewhere
        Assert.Equal(pinned.Count, pinned.Values.Select(c => c[0]).Distinct().Count()); // no two share a CPU
        Assert.All(pinned.Values, c => Assert.Contains(c[0], owned));
    }
}
