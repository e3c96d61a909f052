namespace Federated.Training.Evaluation;

/// <summary>The distinct position keys counted so far, ascending, each with how many positions had it.</summary>
readonly record struct ByteNGramPositions(ulong[] Keys, int[] Counts)
{
    public static ByteNGramPositions Empty { get; } = new([], []);

    /// <summary>Adds the counts of <paramref name="chunk"/>'s keys to <paramref name="counted"/>.</summary>
    public static ByteNGramPositions Merge(ByteNGramPositions counted, Dictionary<ulong, int> chunk)
    {
        var (chunkKeys, chunkCounts) = Sorted(chunk);
        var keys = GC.AllocateUninitializedArray<ulong>(counted.Keys.Length + chunkKeys.Length);
        var counts = GC.AllocateUninitializedArray<int>(keys.Length);
        int n = 0, a = 0, b = 0;
        while (a < counted.Keys.Length || b < chunkKeys.Length)
        {
            ulong key = b == chunkKeys.Length || (a < counted.Keys.Length && counted.Keys[a] <= chunkKeys[b]) ? counted.Keys[a] : chunkKeys[b];
            int count = 0;
            if (a < counted.Keys.Length && counted.Keys[a] == key) count += counted.Counts[a++];
            if (b < chunkKeys.Length && chunkKeys[b] == key) count += chunkCounts[b++];
            keys[n] = key;
            counts[n++] = count;
        }
        if (n < keys.Length) // many of a chunk's keys were counted before
        {
            Array.Resize(ref keys, n);
            Array.Resize(ref counts, n);
        }
        return new ByteNGramPositions(keys, counts);
    }

    static (ulong[] Keys, int[] Counts) Sorted(Dictionary<ulong, int> chunk)
    {
        var keys = GC.AllocateUninitializedArray<ulong>(chunk.Count);
        var counts = GC.AllocateUninitializedArray<int>(chunk.Count);
        int i = 0;
        foreach (var (key, count) in chunk)
            (keys[i], counts[i++]) = (key, count);
        keys.AsSpan().Sort(counts.AsSpan());
        return (keys, counts);
    }
}
