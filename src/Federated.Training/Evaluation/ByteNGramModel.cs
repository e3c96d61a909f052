namespace Federated.Training.Evaluation;

/// <summary>
/// An interpolated Kneser-Ney language model over bytes, of order 1 to <see cref="MaxOrder"/>: the baseline a
/// byte-level transformer's held-out nats/byte is compared against (ALGORITHMS.md, E1).
/// Immutable once fitted, so one model may score from several threads.
/// </summary>
/// <remarks>
/// A query uses the last <c>min(|context|, order - 1)</c> context bytes; the order that answers it, k = that
/// length + 1, uses raw counts c, every order below it continuation counts N (how many distinct bytes, or a
/// document start, came right before the n-gram), and below order 1 sits the uniform 1/256. With h the context at
/// order j, h' the same without its oldest byte, T(h) the number of distinct bytes seen after h and D_j the
/// discount of that kind of count at that order:
/// <code>
///   p_j(w | h) = (max(c(h w) - D_j, 0) + D_j T(h) p_{j-1}(w | h')) / sum_v c(h v)      (N instead of c below k)
///   p_0(w)     = 1 / 256
/// </code>
/// and p_j = p_{j-1} when h was never followed by a byte. Discounts come from the fitted counts themselves:
/// D = n1 / (n1 + 2 n2), n1 and n2 the numbers of n-grams of that order whose count is 1 and 2, kept in
/// [0.01, 0.99]. Each level sums to 1 over the 256 bytes, so every probability is positive and they sum to 1.
/// Counts never cross a document boundary: a document's first bytes are counted with the shorter contexts they have.
/// </remarks>
public sealed class ByteNGramModel
{
    public const int MaxOrder = 6;
    const double Uniform = 1.0 / 256;

    readonly ByteNGramTable[] _tables; // _tables[k - 1] holds order k

    ByteNGramModel(ByteNGramTable[] tables) => _tables = tables;

    public int Order => _tables.Length;

    /// <summary>The number of distinct n-grams of each order, 1 first (their size is this model's memory).</summary>
    public IReadOnlyList<int> Grams => _tables.Select(t => t.Grams).ToArray();

    /// <summary>Fits the model on whole documents; contexts never reach into a neighbouring document.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The order is outside 1..<see cref="MaxOrder"/>.</exception>
    /// <exception cref="ArgumentException">The documents hold no bytes, or more than one array can.</exception>
    public static ByteNGramModel Fit(int order, IEnumerable<ReadOnlyMemory<byte>> documents) =>
        Fit(order, documents, ByteNGramCounter.ChunkKeys);

    /// <param name="chunkKeys">Distinct n-grams counted by hash before they are merged into sorted counts.</param>
    internal static ByteNGramModel Fit(int order, IEnumerable<ReadOnlyMemory<byte>> documents, int chunkKeys)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, MaxOrder);
        ArgumentNullException.ThrowIfNull(documents);
        return new ByteNGramModel(ByteNGramCounter.Count(order, documents, chunkKeys));
    }

    /// <summary>ln p(next | context); the context is the bytes before next, of which the last order - 1 count.</summary>
    public double LogProb(ReadOnlySpan<byte> context, byte next)
    {
        int answering = Math.Min(context.Length, Order - 1) + 1;
        double p = Uniform;
        ulong key = 0; // the last k - 1 context bytes, most recent in the low 8 bits
        for (int k = 1; k <= answering; k++)
        {
            if (k > 1) key |= (ulong)context[^(k - 1)] << (8 * (k - 2));
            p = _tables[k - 1].Interpolate(key, next, p, raw: k == answering);
        }
        return Math.Log(p);
    }

    /// <summary>
    /// Mean -ln p(b_i | b_0..b_{i-1}) over positions 1..len-1 of every window, the context never reaching outside
    /// its window: the same targets as a transformer scored on these windows, whose first token is not a target.
    /// </summary>
    /// <exception cref="ArgumentException">No window is longer than one byte.</exception>
    public ByteNGramScore NatsPerByte(IEnumerable<ReadOnlyMemory<byte>> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        double nats = 0;
        long predicted = 0;
        foreach (var window in windows)
        {
            var bytes = window.Span;
            for (int i = 1; i < bytes.Length; i++)
                nats -= LogProb(bytes[Math.Max(0, i - (Order - 1))..i], bytes[i]);
            predicted += Math.Max(bytes.Length - 1, 0);
        }
        if (predicted == 0)
            throw new ArgumentException("the windows hold no byte to predict (a window's first byte is context only)", nameof(windows));
        return new ByteNGramScore(nats / predicted, predicted);
    }
}
