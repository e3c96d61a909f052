using System.Runtime.InteropServices;

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
public static unsafe partial class NativeThreads
{
    const int RtldLazy = 0x1, RtldNoload = 0x4;

    static readonly Functions s_functions = Resolve();

    /// <summary>Until disposed, libtorch calls from this thread use one thread; the previous settings come back after.</summary>
    public static Scope OnePerWorker()
    {
        var f = s_functions;
        if (f.OmpSet == null || f.OmpGet == null || f.MklLocal == null) return default;
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
        public readonly delegate* unmanaged<int> MklGet = mklGet;
        public readonly delegate* unmanaged<int, void> OmpSet = ompSet;
        public readonly delegate* unmanaged<int> OmpGet = ompGet;
        public readonly delegate* unmanaged<int, int> MklLocal = mklLocal;
    }

    /// <summary>The functions as libtorch_cpu.so sees them: dlsym on its handle searches its own dependencies (its libgomp) too.</summary>
    static Functions Resolve()
    {
        if (!OperatingSystem.IsLinux()) return default;
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        nint library;
        try { library = dlopen("libtorch_cpu.so", RtldLazy | RtldNoload); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return default; }
        // The handle stays open: libtorch is loaded for the process's life, and the pointers must stay valid with it.
        if (library == 0
            || !NativeLibrary.TryGetExport(library, "omp_set_num_threads", out var set)
            || !NativeLibrary.TryGetExport(library, "omp_get_max_threads", out var get)
            || !NativeLibrary.TryGetExport(library, "MKL_Set_Num_Threads_Local", out var local)
            || !NativeLibrary.TryGetExport(library, "MKL_Get_Max_Threads", out var mklGet))
            return default;
        return new((delegate* unmanaged<int, void>)set, (delegate* unmanaged<int>)get, (delegate* unmanaged<int, int>)local, (delegate* unmanaged<int>)mklGet);
    }

    [LibraryImport("libc", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlopen(string file, int mode);
}
