using System.Collections.Concurrent;

namespace Federated.Training.Models;

/// <summary>
/// Work spread over copies of one model (replicas holding the same weights), one thread per copy: each item is the same
/// computation on whichever copy takes it, so the results are those of a single copy, in less time.
/// </summary>
public static class ModelCopies
{
    public static void ForEach<T>(IReadOnlyList<LlamaForCausalLM> copies, IReadOnlyList<T> items, Action<LlamaForCausalLM, T> work)
    {
        ArgumentOutOfRangeException.ThrowIfZero(copies.Count);
        var free = new ConcurrentBag<LlamaForCausalLM>(copies);
        Parallel.ForEach(items, new ParallelOptions { MaxDegreeOfParallelism = copies.Count }, item =>
        {
            if (!free.TryTake(out var model)) throw new InvalidOperationException("more workers than model copies");
            try { work(model, item); }
            finally { free.Add(model); }
        });
    }
}
