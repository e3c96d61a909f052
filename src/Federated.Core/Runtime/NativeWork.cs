namespace Federated.Core.Runtime;

/// <summary>
/// TorchSharp turns plain numbers into native scalars inside its operators and optimisers and leaves them to the finalizer
/// (dotnet/TorchSharp#1496). Such a scalar is unreachable once its handle has been read, so a collection while the native
/// call still runs can finalize it in use. A collection forced on one thread while another computes is exactly that: a
/// simulation training two clients side by side crashed in AdamW's addcdiv_, whose float range check read a freed scalar.
/// Work that calls TorchSharp from several threads holds a shared scope (<see cref="Enter"/>, synchronous code only: the
/// lock is the thread's); a forced collection (<see cref="Collect"/>) takes it exclusively, between other threads' units of
/// work, and waits for the finalizers it queued before they resume. A collection the runtime starts on its own can still
/// fall inside a native call, so the hot paths (the model's forward pass, the loss) pass scalars they hold in a
/// <c>using</c> variable until the call returns, never a number converted on the spot.
/// </summary>
public static class NativeWork
{
    static readonly ReaderWriterLockSlim s_lock = new(LockRecursionPolicy.SupportsRecursion);

    public static Scope Enter()
    {
        s_lock.EnterReadLock();
        return new Scope();
    }

    /// <summary>
    /// <paramref name="source"/>'s items, each produced inside a scope (building a training batch calls TorchSharp), and
    /// handed out outside it.
    /// </summary>
    public static IEnumerable<T> Each<T>(IEnumerable<T> source)
    {
        using var items = source.GetEnumerator();
        while (true)
        {
            T item;
            using (Enter())
            {
                if (!items.MoveNext()) yield break;
                item = items.Current;
            }
            yield return item;
        }
    }

    /// <summary>Whether this thread is inside a <see cref="Scope"/>, where a forced collection would wait for itself.</summary>
    public static bool IsInside => s_lock.IsReadLockHeld;

    /// <summary>A collection of <paramref name="generation"/> and the finalizers it queues, while no thread is inside a scope.</summary>
    /// <returns>False, doing nothing, when called from inside a scope.</returns>
    public static bool Collect(int generation)
    {
        if (IsInside) return false;
        s_lock.EnterWriteLock();
        try
        {
            GC.Collect(generation);
            GC.WaitForPendingFinalizers();
            return true;
        }
        finally
        {
            s_lock.ExitWriteLock();
        }
    }

    public readonly struct Scope : IDisposable
    {
        public void Dispose() => s_lock.ExitReadLock();
    }
}
