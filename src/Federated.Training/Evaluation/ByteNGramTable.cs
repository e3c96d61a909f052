namespace Federated.Training.Evaluation;

/// <summary>
/// One order's counts, grouped by context: the followers of context i are entries
/// <c>starts[i]..starts[i + 1]</c>, sorted by next byte, so a lookup is two binary searches.
/// Context keys hold the most recent byte in the low 8 bits.
/// </summary>
sealed class ByteNGramTable
{
    readonly ulong[] _contexts;
    readonly int[] _starts;
    readonly int[] _rawTotals;
    readonly int[] _continuationTotals;
    readonly byte[] _next;
    readonly int[] _raw;
    readonly ushort[] _continuation;

    /// <summary>Discount on raw counts (this order answers the query) and on continuation counts (a lower order).</summary>
    public double RawDiscount { get; }

    public double ContinuationDiscount { get; }

    public int Grams => _next.Length;

    /// <param name="grams">Forward keys (oldest byte most significant, next byte in the low 8 bits), sorted.</param>
    /// <param name="counts">Per gram: raw count in the high 32 bits, continuation count in the low 32.</param>
    internal ByteNGramTable(ReadOnlySpan<ulong> grams, ReadOnlySpan<ulong> counts)
    {
        int contexts = 0;
        for (int i = 0; i < grams.Length; i++)
            if (i == 0 || grams[i] >> 8 != grams[i - 1] >> 8) contexts++;
        _contexts = new ulong[contexts];
        _starts = new int[contexts + 1];
        _rawTotals = new int[contexts];
        _continuationTotals = new int[contexts];
        _next = new byte[grams.Length];
        _raw = new int[grams.Length];
        _continuation = new ushort[grams.Length];
        var raw = new CountOfCounts();
        var continuation = new CountOfCounts();
        int c = -1;
        for (int i = 0; i < grams.Length; i++)
        {
            if (i == 0 || grams[i] >> 8 != grams[i - 1] >> 8)
            {
                _contexts[++c] = grams[i] >> 8;
                _starts[c] = i;
            }
            _next[i] = (byte)grams[i];
            _raw[i] = (int)(counts[i] >> 32);
            _continuation[i] = (ushort)counts[i];
            _rawTotals[c] += _raw[i];
            _continuationTotals[c] += _continuation[i];
            raw.Add(_raw[i]);
            continuation.Add(_continuation[i]);
        }
        _starts[contexts] = grams.Length;
        RawDiscount = raw.Discount;
        ContinuationDiscount = continuation.Discount;
    }

    /// <summary>
    /// (max(c(h w) - D, 0) + D T(h) lower) / c(h): this order's discounted estimate of <paramref name="next"/>
    /// after <paramref name="context"/>, interpolated with the lower order's probability <paramref name="lower"/>;
    /// <paramref name="lower"/> itself when the context was never followed by anything.
    /// </summary>
    public double Interpolate(ulong context, byte next, double lower, bool raw)
    {
        int c = Array.BinarySearch(_contexts, context);
        if (c < 0) return lower;
        int start = _starts[c], followers = _starts[c + 1] - start;
        int i = _next.AsSpan(start, followers).BinarySearch(next);
        double count = i < 0 ? 0 : raw ? _raw[start + i] : _continuation[start + i];
        (double total, double discount) = raw
            ? (_rawTotals[c], RawDiscount)
            : (_continuationTotals[c], ContinuationDiscount);
        return (Math.Max(count - discount, 0) + discount * followers * lower) / total;
    }

    /// <summary>n1 and n2 of one kind of count, and the discount n1 / (n1 + 2 n2) they give.</summary>
    struct CountOfCounts
    {
        // Kept inside (0, 1): a zero discount would leave unseen bytes with probability 0, and one of 1 would
        // erase a count of 1. Only degenerate text (no singletons, or no doubletons) reaches the bounds.
        const double Floor = 0.01, Ceiling = 0.99;
        long _once, _twice;

        public void Add(int count)
        {
            if (count == 1) _once++;
            else if (count == 2) _twice++;
        }

        public readonly double Discount => _once == 0 ? Floor : Math.Clamp((double)_once / (_once + 2 * _twice), Floor, Ceiling);
    }
}
