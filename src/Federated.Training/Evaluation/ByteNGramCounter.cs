using System.Runtime.InteropServices;

namespace Federated.Training.Evaluation;

/// <summary>
/// Counts every order's n-grams from one sorted table: each position becomes one key holding its byte and the
/// <c>order - 1</c> bytes before it (9-bit symbols, 256 marking "before the document's start"), with the
/// predicted byte most significant. Sorted, the distinct keys sharing a k-gram suffix are one run for every k at
/// once: the sum of its counts is the k-gram's raw count, and the number of distinct (k+1)-gram suffixes inside it
/// is the k-gram's continuation count (distinct left extensions, the document start counting as one).
/// </summary>
static class ByteNGramCounter
{
    const int SymbolBits = 9;
    const ulong Start = 256;
    const ulong SymbolMask = (1 << SymbolBits) - 1;

    /// <summary>Distinct keys a hash table collects before they are sorted into the merged counts.</summary>
    public const int ChunkKeys = 1 << 22;

    public static ByteNGramTable[] Count(int order, IEnumerable<ReadOnlyMemory<byte>> documents, int chunkKeys = ChunkKeys)
    {
        var positions = CountPositions(order, documents, chunkKeys);
        var grams = new GramList[order + 1];
        Walk(order, positions, grams); // the first pass sizes the lists, the second fills them
        for (int k = 1; k <= order; k++) grams[k].Allocate();
        Walk(order, positions, grams);
        var tables = new ByteNGramTable[order];
        for (int k = 1; k <= order; k++)
        {
            var (keys, counts) = (grams[k].Keys!, grams[k].Counts!);
            keys.AsSpan().Sort(counts.AsSpan());
            tables[k - 1] = new ByteNGramTable(keys, counts);
            grams[k] = default;
        }
        return tables;
    }

    /// <summary>Every distinct position key, sorted, with how many positions have it.</summary>
    static ByteNGramPositions CountPositions(int order, IEnumerable<ReadOnlyMemory<byte>> documents, int chunkKeys)
    {
        int top = SymbolBits * (order - 1);
        ulong before = 0;
        for (int k = 0; k < order; k++) before = before << SymbolBits | Start;
        var chunk = new Dictionary<ulong, int>(); // counting by hash first is faster than sorting every position
        long total = 0;
        var counted = ByteNGramPositions.Empty;
        foreach (var document in documents)
        {
            total += document.Length;
            if (total > int.MaxValue)
                throw new ArgumentException($"the documents hold more than {int.MaxValue} bytes, the most one fit counts", nameof(documents));
            ulong key = before; // contexts never reach into the previous document
            foreach (byte b in document.Span)
            {
                key = key >> SymbolBits | (ulong)b << top;
                CollectionsMarshal.GetValueRefOrAddDefault(chunk, key, out _)++;
                if (chunk.Count == chunkKeys)
                {
                    counted = ByteNGramPositions.Merge(counted, chunk);
                    chunk.Clear();
                }
            }
        }
        if (total == 0)
            throw new ArgumentException("the documents hold no bytes to fit", nameof(documents));
        return ByteNGramPositions.Merge(counted, chunk);
    }

    static void Walk(int order, ByteNGramPositions positions, GramList[] grams)
    {
        Span<ulong> current = stackalloc ulong[order + 1];
        Span<int> raw = stackalloc int[order + 1];
        Span<int> extensions = stackalloc int[order + 1];
        current.Fill(ulong.MaxValue);
        for (int k = 1; k <= order; k++) grams[k].Count = 0;
        for (int i = 0; i < positions.Keys.Length; i++)
        {
            ulong key = positions.Keys[i];
            int first = 1;
            while (first <= order && Suffix(key, order, first) == current[first]) first++;
            for (int k = first; k <= order; k++)
            {
                Emit(grams, k, current[k], raw[k], extensions[k]);
                current[k] = Suffix(key, order, k);
                raw[k] = 0;
                extensions[k] = 0;
                if (k > 1) extensions[k - 1]++; // a new left extension of the (k-1)-gram
            }
            for (int k = 1; k <= order; k++) raw[k] += positions.Counts[i];
        }
        for (int k = 1; k <= order; k++) Emit(grams, k, current[k], raw[k], extensions[k]);
    }

    /// <summary>The last k symbols of a position's key (the predicted byte and k - 1 before it).</summary>
    static ulong Suffix(ulong key, int order, int k) => key >> (SymbolBits * (order - k));

    static void Emit(GramList[] grams, int k, ulong suffix, int raw, int extensions)
    {
        // Skip the sentinel and suffixes that reach before a document's start: no query has such a context.
        if (suffix == ulong.MaxValue || (suffix & SymbolMask) == Start) return;
        ulong forward = 0;
        for (int j = 0; j < k; j++) // j bytes before the predicted one
            forward |= (suffix >> (SymbolBits * (k - 1 - j)) & SymbolMask) << (8 * j);
        grams[k].Add(forward, (ulong)raw << 32 | (uint)extensions);
    }

    /// <summary>A list that is counted on the first pass and filled on the second, so it never over-allocates.</summary>
    struct GramList
    {
        public int Count;
        public ulong[]? Keys;
        public ulong[]? Counts;

        public void Allocate()
        {
            Keys = GC.AllocateUninitializedArray<ulong>(Count);
            Counts = GC.AllocateUninitializedArray<ulong>(Count);
        }

        public void Add(ulong key, ulong counts)
        {
            if (Keys is not null)
            {
                Keys[Count] = key;
                Counts![Count] = counts;
            }
            Count++;
        }
    }
}
