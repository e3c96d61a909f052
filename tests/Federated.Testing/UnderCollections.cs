namespace Federated.Testing;

/// <summary>
/// Work run while another thread collects without pause, each collection followed by the finalizers it queued: a native
/// object TorchSharp left to its finalizer (an implicit scalar, the middle tensor of a chain outside a dispose scope) is then
/// freed during the very call that reads it, where in a host it would be freed once in a long while. Test classes that use
/// it run alone: the collector frees the implicit objects of tests running beside them too.
/// </summary>
public static class UnderCollections
{
    /// <summary>Runs <paramref name="work"/>(call index) at least <paramref name="calls"/> times and for at least <paramref name="duration"/>.</summary>
    public static void Run(Action<int> work, int calls, TimeSpan duration)
    {
        bool stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int call = 0; call < calls || clock.Elapsed < duration; call++) work(call);
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
    }
}
