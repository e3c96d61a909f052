using Federated.Core.Runtime;

namespace Federated.Training;

/// <summary>
/// TorchSharp leaves some native objects to the finalizer (among them the scalars it makes from plain numbers inside its
/// operators and optimisers, dotnet/TorchSharp#1496), and a training step allocates too little managed memory to set off
/// a GC. Until one runs, those small blocks pin the freed activation memory around them in the C heap: full fine-tuning
/// of the small preset grew by 5 MB a step, to 1.4 GB before the first GC, against 0.37 GB with a collection after every
/// step. (With glibc's mmap threshold pinned low, so activations bypass the heap, the growth nearly vanished too.)
/// </summary>
static class UndisposedNativeObjects
{
    /// <summary>
    /// A collection costs a millisecond or two in a busy process (the simulator, with its coordinator), which after every
    /// 20 ms step of the tiny preset was a tenth of the run. At most one per interval keeps that near 1 %, while models whose
    /// steps take longer than the interval, and so pin more per step, still collect after every step.
    /// </summary>
    const long IntervalMs = 100;
    static long s_lastCollection = Environment.TickCount64;

    /// <summary>
    /// A generation-0 collection if none ran in the last interval (process-wide, like the GC itself), between other threads'
    /// units of TorchSharp work (<see cref="NativeWork"/>). Call it outside a <see cref="NativeWork.Scope"/>.
    /// </summary>
    public static void Release()
    {
        long now = Environment.TickCount64, last = Interlocked.Read(ref s_lastCollection);
        if (now - last < IntervalMs || NativeWork.IsInside || Interlocked.CompareExchange(ref s_lastCollection, now, last) != last) return;
        NativeWork.Collect(0);
    }
}
