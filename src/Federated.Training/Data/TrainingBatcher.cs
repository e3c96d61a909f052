namespace Federated.Training.Data;

/// <summary>
/// Splits examples into batches of <c>batchSize</c> (the last one may be smaller), in an order shuffled by
/// <c>new Random(seed)</c> so that a seed always gives the same order, or in file order when the seed is null.
/// </summary>
public static class TrainingBatcher
{
    /// <summary>Batches are built lazily; the caller disposes each one.</summary>
    public static IEnumerable<TrainingBatch> Batches(IReadOnlyList<TrainingExample> examples, int batchSize, int padId, int? seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return Iterate(Order(examples.Count, seed));

        IEnumerable<TrainingBatch> Iterate(int[] order)
        {
            foreach (var chunk in order.Chunk(batchSize))
                yield return TrainingBatch.Collate(chunk.Select(i => examples[i]).ToArray(), padId);
        }
    }

    /// <summary>The example indices in batching order: a Fisher-Yates shuffle driven by <c>new Random(seed)</c>.</summary>
    public static int[] Order(int count, int? seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var order = Enumerable.Range(0, count).ToArray();
        if (seed is not { } s)
            return order;
        // Written out rather than Random.Shuffle so the order for a seed is pinned by this code, not the runtime.
        var random = new Random(s);
        for (var i = count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
