namespace Federated.Core.Runtime;

/// <summary>
/// libtorch runs each matrix product and large elementwise operation on an OpenMP team as wide as the machine, and MKL's
/// GEMMs likewise. Work its caller already spreads over the cores (an aggregation combining modules in parallel, one
/// worker per core) then runs a team per worker: twice the threads of the cores, spinning at each other's barriers
/// (measured: FLoRA of 10 clients, whose v_proj modules are dense sums, 14-15 ms with one thread per worker against
/// 20.5 ms with teams). <see cref="OnePerWorker"/> makes the calling thread's own libtorch calls single-threaded for a
/// scope, and leaves other threads' teams alone (Krum's one large Gram product needs its team): OpenMP's thread count is a
/// per-thread setting (omp_set_num_threads from a thread outside any team sets that thread's), and MKL has a thread-local
/// one (MKL_Set_Num_Threads_Local, the by-value entry; the lower-case one is Fortran's and takes a pointer). Without
/// libtorch's MKL or OpenMP the scope does nothing.
/// </summary>
public static unsafe class NativeThreads
{
    static readonly Functions s_functions = Resolve();

    /// <summary>Until disposed, libtorch calls from this thread use one thread; the previous settings come back after.</summary>
    public static Scope OnePerWorker()
    {
        var f = s_functions;
        // Resolve finds all four functions or none: without them (no libtorch OpenMP or MKL) the scope does nothing.
        if (f.OmpSet == null) return default;
        int omp = f.OmpGet();
        f.OmpSet(1);
        int mkl = f.MklLocal(1);
        return new Scope(omp, mkl);
    }

    /// <summary>The threads MKL would use for a call from this thread (its thread-local setting, else the global one); null without MKL.</summary>
    internal static int? MklThreads() => s_functions.MklGet == null ? null : s_functions.MklGet();

    /// <summary>Restores the thread's OpenMP and MKL thread counts (MKL's 0 means "the global setting").</summary>
    public readonly struct Scope(int omp, int mkl) : IDisposable
    {
        readonly bool _set = omp > 0;

        public void Dispose()
        {
            if (!_set) return;
            s_functions.OmpSet(omp);
            s_functions.MklLocal(mkl);
        }
    }

    readonly struct Functions(delegate* unmanaged<int, void> ompSet, delegate* unmanaged<int> ompGet, delegate* unmanaged<int, int> mklLocal,
        delegate* unmanaged<int> mklGet)
    {
        public readonly delegate* unmanaged<int, void> OmpSet = ompSet;
        public readonly delegate* unmanaged<int> OmpGet = ompGet;
        public readonly delegate* unmanaged<int, int> MklLocal = mklLocal;
        public readonly delegate* unmanaged<int> MklGet = mklGet;
    }

    /// <summary>OpenMP's functions come from libtorch's own libgomp, found through libtorch_cpu.so's dependencies.</summary>
    static Functions Resolve() =>
        LibTorchCpu.TryGetExport("omp_set_num_threads", out var set)
        && LibTorchCpu.TryGetExport("omp_get_max_threads", out var get)
        && LibTorchCpu.TryGetExport("MKL_Set_Num_Threads_Local", out var local)
        && LibTorchCpu.TryGetExport("MKL_Get_Max_Threads", out var mklGet)
            ? new((delegate* unmanaged<int, void>)set, (delegate* unmanaged<int>)get, (delegate* unmanaged<int, int>)local, (delegate* unmanaged<int>)mklGet)
            : default;
}
