using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Training.Models;

/// <summary>
/// The generator LoRA dropout draws from on this thread: a training run's own, seeded by its options, so runs training
/// side by side in one process (the simulator's clients) never take numbers from each other's stream, and a checkpoint
/// can save exactly the run's. Without one, dropout uses libtorch's global generator.
/// </summary>
public static class DropoutGenerator
{
    [ThreadStatic] static Generator? t_current;

    public static Generator? Current => t_current;

    /// <summary>Makes <paramref name="generator"/> this thread's until the returned scope is disposed.</summary>
    public static IDisposable Use(Generator generator)
    {
        var previous = t_current;
        t_current = generator;
        return new Scope(previous);
    }

    /// <summary>Zeroes each element with probability p and scales the rest by 1 / (1 - p), from this thread's generator if any.</summary>
    public static Tensor Dropout(Tensor x, double p, bool training)
    {
        if (!training || p == 0) return x;
        if (t_current is not { } generator) return nn.functional.dropout(x, p, training);
        using var keep = empty_like(x).bernoulli_(1 - p, generator);
        using var kept = (1 - p).ToScalar(); // held to the end of the call (see NativeWork)
        return x * keep.div_(kept);
    }

    sealed class Scope(Generator? previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }
}
