using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Federated.Core.Robust;

/// <summary>
/// Batcher's merge-exchange sort (Knuth, TAOCP 5.2.2, Algorithm M) for any n, as a fixed list of compare-exchanges, pruned
/// to the comparators some wanted output position depends on. A coordinate-wise rule runs it on 16 coordinates at once, one
/// Vector512 lane each: no branches, every value in L1, and min/max return one of their inputs exactly, so a selected value
/// is bit for bit one of the K values. About n log2(n)^2 / 4 comparators (n = 100: 1,077 to sort; the median needs fewer).
/// </summary>
sealed class SortingNetwork
{
    static readonly ConcurrentDictionary<(int, int, int), SortingNetwork> s_cache = new();
    /// <summary>The comparators as (low, high) position pairs, flattened.</summary>
    readonly int[] _pairs;
    readonly int _size;

    SortingNetwork(int size, List<(int Low, int High)> comparators)
    {
        _size = size;
        _pairs = comparators.SelectMany(c => new[] { c.Low, c.High }).ToArray();
    }

    public int Count => _pairs.Length / 2;

    /// <summary>A network that leaves positions [<paramref name="first"/>, <paramref name="end"/>) as a full sort of n values would.</summary>
    public static SortingNetwork For(int n, int first, int end) => s_cache.GetOrAdd((n, first, end), key => Build(key.Item1, key.Item2, key.Item3));

    /// <summary>Sorts each lane ascending over the vectors, at least at the wanted positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(Span<Vector512<float>> values)
    {
        if (values.Length < _size) throw new ArgumentException($"the network sorts {_size} values, got {values.Length}");
        ref var first = ref MemoryMarshal.GetReference(values);
        ref int pair = ref MemoryMarshal.GetArrayDataReference(_pairs);
        for (int c = 0; c < _pairs.Length; c += 2)
        {
            ref var low = ref Unsafe.Add(ref first, Unsafe.Add(ref pair, c));
            ref var high = ref Unsafe.Add(ref first, Unsafe.Add(ref pair, c + 1));
            var x = low;
            var y = high;
            low = Vector512.MinNative(x, y);
            high = Vector512.MaxNative(x, y);
        }
    }

    static SortingNetwork Build(int n, int first, int end)
    {
        var all = new List<(int, int)>();
        if (n > 1)
        {
            int t = 0;
            while (1 << t < n) t++;
            for (int p = 1 << (t - 1); p > 0; p >>= 1)
            {
                int q = 1 << (t - 1), r = 0, d = p;
                while (true)
                {
                    for (int i = 0; i < n - d; i++)
                        if ((i & p) == r) all.Add((i, i + d));
                    if (q == p) break;
                    d = q - p;
                    q >>= 1;
                    r = p;
                }
            }
        }
        // Backwards from the wanted outputs: a comparator matters when it writes a position something later needs.
        var needed = new bool[n];
        for (int i = first; i < end; i++) needed[i] = true;
        var kept = new List<(int, int)>();
        for (int c = all.Count - 1; c >= 0; c--)
        {
            var (low, high) = all[c];
            if (!needed[low] && !needed[high]) continue;
            needed[low] = needed[high] = true;
            kept.Add(all[c]);
        }
        kept.Reverse();
        return new SortingNetwork(n, kept);
    }
}
