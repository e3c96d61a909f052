using Federated.Core.Robust;

namespace Federated.Core.Tests.Aggregation;

/// <summary>
/// TorchSharp frees a Scalar in its finalizer, and a Scalar made implicitly for a native call (t.add_(x) passes alpha = 1)
/// is unreachable once its handle is read: a collection during the call frees it under libtorch. Aggregation runs while
/// the coordinator's other threads allocate, so a collection can land there at any time. Before every number passed to
/// TorchSharp was a held scalar (HeldScalars), FLoRA's dense sum failed here within a second, every run.
/// </summary>
public sealed class FinalizerRaceTests
{
    [Theory]
    [InlineData("flora", null)] // ranks 8 x 10 = 80 > 48: every stack is written as its dense sum (matmul, then add_)
    [InlineData("flexlora", null)] // SVD of the stack, B = U S
    [InlineData("fedit", "flag")] // FLAG's IRLS on the Gram (pow, add, where on small tensors)
    public void Aggregation_survives_collections_and_finalizers_running_throughout(string strategy, string? rule)
    {
        using var data = new MixedRankUpdates(seed: 31, ranks: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8], sameAlpha: true);
        var updates = data.Updates.Select((u, k) => new ClientUpdate($"c{k}", u, 10 + k)).ToList();
        var aggregator = new AggregatorOptions(strategy, rule).Build();
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
            // At least 20 calls and 2 s: before the fix, FLoRA failed within a second and FLAG in one run of two.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int calls = 0; calls < 20 || clock.Elapsed < TimeSpan.FromSeconds(2); calls++)
                aggregator.Aggregate(updates).Dispose();
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
    }
}
