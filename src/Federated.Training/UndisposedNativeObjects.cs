namespace Federated.Training;

/// <summary>
/// TorchSharp leaves some native objects to the finalizer (the scalars it makes from plain numbers inside its operators
/// and optimisers, for one), and a training step allocates too little managed memory to set off a GC. Until one runs,
/// those small blocks pin the freed activation memory around them in the C heap: full fine-tuning of the small preset
/// grew by 5 MB a step, to 1.4 GB before the first GC, against 0.37 GB with a collection after every step.
/// </summary>
static class UndisposedNativeObjects
{
    /// <summary>A generation-0 collection: cheap, since the managed heap of a training loop is nearly empty.</summary>
    public static void Release() => GC.Collect(0);
}
