using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Federated.Core.Runtime;

/// <summary>
/// One thread per core for work already split into independent items (an aggregation's modules), each thread pinned to
/// a CPU of its own where the process owns whole CPUs (Linux: its affinity mask holds exactly
/// <see cref="Environment.ProcessorCount"/> CPUs; under a CPU quota the threads are not pinned).
/// <para>
/// Why not the thread pool: on a virtual machine the scheduler may place a thread it wakes on the waker's busy CPU rather
/// than an idle one it believes descheduled, and the thread then waits for the waker to block or for the next load
/// balance. Measured on this project's 2-vCPU build machine: a thread woken after 1 ms idle started on the waker's CPU in
/// 194 of 200 wakes, 1.5 ms late (when the waker blocked); a module loop's second pool thread joined a 3 ms aggregation
/// 0.7 ms after it began, on average. A thread pinned to the other CPU can only be woken there: it started within 44 us
/// (median).
/// </para>
/// <para>
/// The caller runs a share of the items itself and wakes only the workers on the other CPUs, so a loop never has more
/// threads than cores and pays no wake for its own share. A worker's own
/// libtorch calls are single-threaded for its life (<see cref="NativeThreads.OnePerWorker"/>): the items already keep
/// every core busy. Items run without the caller's execution context (no AsyncLocal values): they are computation.
/// A loop started while another caller's runs (two aggregations in one process) goes to <see cref="Parallel"/> instead of
/// waiting; one of a single item, or started from inside an item, runs inline.
/// </para>
/// </summary>
public static partial class CoreWorkers
{
    static readonly Lazy<Worker[]> s_workers = new(Start);
    static readonly Lock s_running = new();
    [ThreadStatic] static bool t_isWorker;

    /// <summary>Runs <paramref name="body"/> once for each of 0 .. <paramref name="count"/> - 1, in that order of starting; the first exception stops the loop and is rethrown once every running item has returned.</summary>
    public static void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (count == 1 || t_isWorker)
        {
            // Inline, single-threaded in libtorch all the same: callers on several threads (a silo's module shards) would
            // otherwise each start an OpenMP team on the same cores.
            using (NativeThreads.OnePerWorker())
                for (int i = 0; i < count; i++) body(i);
            return;
        }
        var workers = s_workers.Value;
        if (workers.Length < 2 || !s_running.TryEnter())
        {
            Fallback(count, body);
            return;
        }
        Job job;
        try
        {
            // The caller takes one share of the items; the workers on the other CPUs the rest.
            int here = CurrentCpu();
            var helpers = workers.Where(w => w.Cpu != here || here < 0).Take(Math.Min(workers.Length, count) - 1).ToList();
            job = new Job(count, body, helpers.Count + 1);
            foreach (var w in helpers) w.Run(job);
            t_isWorker = true;
            using (NativeThreads.OnePerWorker()) job.RunItems();
            job.Wait();
        }
        finally
        {
            t_isWorker = false;
            s_running.Exit();
        }
        job.ThrowIfFailed();
    }

    /// <summary>At most one thread-pool worker per core, for loops that run on the pool.</summary>
    public static ParallelOptions Bounded => new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>The thread pool's loop, each item's libtorch calls single-threaded as on a worker.</summary>
    static void Fallback(int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, Bounded, i =>
            {
                using (NativeThreads.OnePerWorker()) body(i);
            });
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    static Worker[] Start()
    {
        var cpus = OwnedCpus();
        return Enumerable.Range(0, Environment.ProcessorCount).Select(i => new Worker(i, cpus?[i])).ToArray();
    }

    /// <summary>The CPUs of the process's affinity mask when they are exactly its processor count; null otherwise or where unknown.</summary>
    internal static unsafe int[]? OwnedCpus()
    {
        if (!OperatingSystem.IsLinux()) return null;
        const int Words = 16; // 1,024 CPUs, glibc's cpu_set_t
        ulong* mask = stackalloc ulong[Words];
        try
        {
            if (sched_getaffinity(Environment.ProcessId, Words * sizeof(ulong), mask) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        var cpus = new List<int>();
        for (int cpu = 0; cpu < Words * 64; cpu++)
            if ((mask[cpu / 64] & (1UL << (cpu % 64))) != 0) cpus.Add(cpu);
        return cpus.Count == Environment.ProcessorCount ? cpus.ToArray() : null;
    }

    /// <summary>The CPU the calling thread runs on; -1 where unknown.</summary>
    internal static int CurrentCpu() => OperatingSystem.IsLinux() ? sched_getcpu() : -1;

    [LibraryImport("libc", EntryPoint = "sched_getaffinity")]
    private static unsafe partial int sched_getaffinity(int pid, nuint size, ulong* mask);

    [LibraryImport("libc", EntryPoint = "sched_setaffinity")]
    private static unsafe partial int sched_setaffinity(int pid, nuint size, ulong* mask);

    [LibraryImport("libc", EntryPoint = "sched_getcpu")]
    private static partial int sched_getcpu();

    /// <summary>One loop: items handed out one at a time (modules differ in size, so no worker is left holding a long tail).</summary>
    sealed class Job(int count, Action<int> body, int workers)
    {
        int _next = -1, _active = workers;
        ExceptionDispatchInfo? _failure;
        readonly ManualResetEventSlim _done = new();

        public void RunItems()
        {
            try
            {
                for (int i = Interlocked.Increment(ref _next); i < count; i = Interlocked.Increment(ref _next)) body(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
                Interlocked.Exchange(ref _next, count); // no further items
            }
            finally
            {
                if (Interlocked.Decrement(ref _active) == 0) _done.Set();
            }
        }

        public void Wait() => _done.Wait(); // not disposed: the last worker may still be inside Set, and it holds no handle

        public void ThrowIfFailed() => _failure?.Throw();
    }

    sealed class Worker
    {
        readonly SemaphoreSlim _signal = new(0);
        Job? _job;
        int _sleeping;

        public Worker(int index, int? cpu)
        {
            Cpu = cpu ?? -1;
            new Thread(() => Loop(cpu)) { IsBackground = true, Name = $"fed-core-{index}" }.Start();
        }

        /// <summary>The CPU the worker is pinned to; -1 when not pinned.</summary>
        public int Cpu { get; }

        public void Run(Job job)
        {
            Interlocked.Exchange(ref _job, job);
            if (Volatile.Read(ref _sleeping) == 1) _signal.Release();
        }

        /// <summary>
        /// The next loop. Sleeping is announced before the last look, and <see cref="Run"/> publishes the loop before it reads
        /// the announcement (both full fences), so a loop is never missed; a wake both sides saw leaves a spare permit, after
        /// which the worker looks once more and sleeps again.
        /// </summary>
        Job Next()
        {
            while (true)
            {
                Interlocked.Exchange(ref _sleeping, 1);
                if (Interlocked.Exchange(ref _job, null) is not { } job)
                {
                    _signal.Wait();
                    job = Interlocked.Exchange(ref _job, null);
                }
                Volatile.Write(ref _sleeping, 0);
                if (job is not null) return job;
            }
        }

        unsafe void Loop(int? cpu)
        {
            if (cpu is int c)
            {
                ulong* mask = stackalloc ulong[c / 64 + 1];
                new Span<ulong>(mask, c / 64 + 1).Clear();
                mask[c / 64] = 1UL << (c % 64);
                sched_setaffinity(0, (nuint)(c / 64 + 1) * sizeof(ulong), mask); // this thread; unpinned if refused
            }
            t_isWorker = true;
            _ = NativeThreads.OnePerWorker(); // for the thread's life
            while (true)
            {
                var job = Next();
                job.RunItems();
            }
        }
    }
}
