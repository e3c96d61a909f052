using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Federated.Core.Aggregation;

/// <summary>What one read of a module's factors tells: whether every value is finite, and ||s B A||_F^2 (NaN when not finite).</summary>
public readonly record struct FactorCheck(bool Finite, double SquaredNorm);

/// <summary>
/// The checks and norms of a round's updates, gathered while a strategy or the Gram reads each client's factors for its
/// own work, so the bytes come from memory once (a module's factors are tens of KB: they are still in cache when the
/// strategy copies or accumulates them right after the scan). One entry per (module, client), modules in the order the
/// aggregation aligns them (the first update's); modules may be scanned in parallel, each by one thread.
/// </summary>
public sealed class UpdateScan
{
    readonly FactorCheck?[,] _checks;
    readonly Dictionary<string, int> _modules;

    /// <param name="modules">Module names in the order of the columns the aggregation builds.</param>
    public UpdateScan(IReadOnlyList<string> modules, int clients)
    {
        _checks = new FactorCheck?[modules.Count, clients];
        _modules = modules.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        Clients = clients;
    }

    /// <summary>One update scanned on its own, module by module (a check outside an aggregation).</summary>
    public static UpdateScan Of(LoraAdapter update)
    {
        var scan = new UpdateScan(update.Modules.Select(m => m.Name).ToList(), 1);
        scan.Complete(0, update);
        return scan;
    }

    public int Clients { get; }

    /// <summary>The scan of one module's column (module <paramref name="module"/> in the aligned order).</summary>
    public ColumnScan Column(int module) => new(this, module);

    internal void Record(int module, int client, FactorCheck check) => _checks[module, client] = check;

    /// <summary>Records what another scan found for module <paramref name="module"/>: entry j for client j, null where it scanned nothing.</summary>
    public void Record(string module, IReadOnlyList<FactorCheck?> checks)
    {
        if (!_modules.TryGetValue(module, out int i)) throw new ArgumentException($"module '{module}' is not one of the scan's", nameof(module));
        for (int j = 0; j < checks.Count; j++)
            if (checks[j] is { } check) _checks[i, j] = check;
    }

    /// <summary>Every client's check of module <paramref name="module"/> (in the order the scan was given), null where not scanned.</summary>
    public FactorCheck?[] Checks(int module)
    {
        var row = new FactorCheck?[Clients];
        for (int j = 0; j < row.Length; j++) row[j] = _checks[module, j];
        return row;
    }

    /// <summary>Scans whatever modules of <paramref name="client"/> the aggregation did not read (a left-out update, a rule that stopped early).</summary>
    public void Complete(int client, LoraAdapter update)
    {
        foreach (var m in update.Modules)
            if (_modules.TryGetValue(m.Name, out int i) && _checks[i, client] is null)
                _checks[i, client] = FactorScan.Scan(m);
    }

    /// <summary>The first module, in the update's own order, holding a NaN or an infinity; null when all are finite.</summary>
    public string? FirstNonFinite(int client, LoraAdapter update) => FirstNonFinite(client, update.Modules.Select(m => m.Name));

    /// <summary>The first of <paramref name="modules"/> (an update's own order) whose check is not finite (or missing).</summary>
    public string? FirstNonFinite(int client, IEnumerable<string> modules) => modules.FirstOrDefault(m => Check(client, m) is not { Finite: true });

    /// <summary>||dW||_F of the whole update: the square root of the sum over modules of ||s B A||_F^2.</summary>
    public double Norm(int client)
    {
        double total = 0;
        for (int m = 0; m < _checks.GetLength(0); m++) total += _checks[m, client]?.SquaredNorm ?? double.NaN;
        return Math.Sqrt(total);
    }

    FactorCheck? Check(int client, string module) => _modules.TryGetValue(module, out int i) ? _checks[i, client] : null;
}

/// <summary>One module's share of an <see cref="UpdateScan"/>; the default (no scan) does nothing.</summary>
public readonly struct ColumnScan(UpdateScan? owner, int module, int[]? clients = null)
{
    /// <summary>
    /// Scans position <paramref name="position"/>'s factors of this module; call it right before reading them. Positions
    /// past the scan's clients (a reference update stacked after them) are not scanned.
    /// </summary>
    public void Visit(int position, LoraModule factors)
    {
        if (Scanned(position) is int client) owner!.Record(module, client, FactorScan.Scan(factors));
    }

    /// <summary>
    /// As <see cref="Visit(int, LoraModule)"/>, from the factors' host float32 values, adding them into the caller's
    /// <paramref name="sums"/> in the scan's own loops (<see cref="FactorScan.Scan(LoraModule, ReadOnlySpan{float}, ReadOnlySpan{float}, FactorSums, Prefetcher)"/>).
    /// Returns false, adding nothing, when this position is not scanned: the caller adds the factors itself.
    /// </summary>
    public bool Visit(int position, LoraModule factors, ReadOnlySpan<float> a, ReadOnlySpan<float> b, FactorSums sums, Prefetcher next = default)
    {
        if (Scanned(position) is not int client) return false;
        owner!.Record(module, client, FactorScan.Scan(factors, a, b, sums, next));
        return true;
    }

    /// <summary>The client at <paramref name="position"/> when the scan records it; null without a scan or past its clients.</summary>
    int? Scanned(int position)
    {
        if (owner is null) return null;
        int client = clients is null ? position : clients[position];
        return client < owner.Clients ? client : null;
    }

    /// <summary>The same scan over a subset of the column: position j is client <paramref name="subset"/>[j].</summary>
    public ColumnScan Of(int[] subset)
    {
        if (clients is null) return new(owner, module, subset);
        var mapped = new int[subset.Length];
        for (int j = 0; j < subset.Length; j++) mapped[j] = clients[subset[j]];
        return new(owner, module, mapped);
    }
}

/// <summary>
/// Finiteness and ||s B A||_F^2 = s^2 tr((B^T B)(A A^T)) of one module from its factors, in O((d_in + d_out) r^2) and
/// never forming d_out x d_in. CPU factors go through spans: A A^T as dot products of A's rows, four rows by four at a time
/// (sixteen Vector512 accumulators, two loads per eight FMAs); B^T B at rank 16 from each row of B as one vector times its
/// rotations (nine accumulators), other ranks as A A^T of B transposed into a per-thread buffer. Accumulated in float32
/// per lane, summed in float64: relative error about 1e-6 against a float64 computation. Each TorchSharp call would cost
/// more than this work.
/// </summary>
[SkipLocalsInit] // the Grams' stack buffers are written before they are read: no zeroing per module and client
public static class FactorScan
{
    [ThreadStatic] static float[]? t_transposed;

    public static FactorCheck Scan(LoraModule module)
    {
        if (module.TryHostFloat32(out var a, out var b)) return Scan(module, a, b);
        if (!module.OnHost) return ScanOnDevice(module);
        using var a32 = Float32(module.A, out a);
        using var b32 = Float32(module.B, out b);
        return Scan(module, a, b);
    }

    /// <summary>The scan of <paramref name="module"/> from its factors' float32 values (A: rank x d_in, B: d_out x rank).</summary>
    public static FactorCheck Scan(LoraModule module, ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        Scan(module, a, b, AllFinite(a) && AllFinite(b));

    static FactorCheck Scan(LoraModule module, ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool finite)
    {
        if (!finite) return new(false, double.NaN);
        var next = default(Prefetcher);
        return new(true, module.Scale * module.Scale * Math.Max(0, Trace(a, b, module.Rank, module.InFeatures, module.OutFeatures, ref next, default, out _)));
    }

    /// <summary>
    /// The same, read once for a caller that also sums the factors (FedAvg): the Gram's loops add each value into
    /// <paramref name="sums"/> as they load it, and finiteness comes from the Grams' diagonals (a NaN or an infinity makes a
    /// squared row norm non-finite; when one is, an overflow or such a value, the values themselves decide). The factors
    /// the caller reads next are fetched into cache meanwhile (<paramref name="next"/>). The sums are the same bits as
    /// adding the factors on their own.
    /// </summary>
    public static FactorCheck Scan(LoraModule module, ReadOnlySpan<float> a, ReadOnlySpan<float> b, FactorSums sums, Prefetcher next = default)
    {
        if (sums.A.Length != a.Length || sums.B.Length != b.Length) throw new ArgumentException("the sums must have the factors' shapes", nameof(sums));
        double trace = Trace(a, b, module.Rank, module.InFeatures, module.OutFeatures, ref next, sums, out bool diagonalFinite);
        if (!diagonalFinite && !(AllFinite(a) && AllFinite(b))) return new(false, double.NaN);
        return new(true, module.Scale * module.Scale * Math.Max(0, trace));
    }

    /// <summary>x * 0 is 0 for a finite x and NaN for an infinity or a NaN, so the sum of x * 0 is 0 exactly when all are finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool AllFinite(ReadOnlySpan<float> values)
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        Vector512<float> sum0 = default, sum1 = default;
        int i = 0;
        for (; i + 32 <= values.Length; i += 32)
        {
            sum0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref start, (nuint)i), Vector512<float>.Zero, sum0);
            sum1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref start, (nuint)(i + 16)), Vector512<float>.Zero, sum1);
        }
        float total = Vector512.Sum(sum0 + sum1);
        for (; i < values.Length; i++) total += values[i] * 0;
        return total == 0;
    }

    /// <summary>tr((B^T B)(A A^T)) = sum_pq (A A^T)_pq (B^T B)_pq, both symmetric: the diagonal once, the upper triangle twice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static double Trace(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int rank, int inFeatures, int outFeatures, ref Prefetcher next,
        FactorSums sums, out bool diagonalFinite)
    {
        Span<float> gramA = rank <= 64 ? stackalloc float[rank * rank] : new float[rank * rank];
        RowGram(a, rank, inFeatures, gramA, ref next.A, sums.A, sums.WeightA, sums.Start);
        diagonalFinite = true;
        for (int p = 0; p < rank; p++) diagonalFinite &= float.IsFinite(gramA[p * rank + p]);
        if (rank == 16)
        {
            Span<float> rotated = stackalloc float[9 * 16];
            RotatedGram16(b, outFeatures, rotated, ref next.B, sums.B, sums.WeightB, sums.Start);
            for (int p = 0; p < 16; p++) diagonalFinite &= float.IsFinite(rotated[p]);
            return RotatedTrace16(gramA, rotated);
        }
        if (!sums.B.IsEmpty) FactorKernels.Host.MultiplyAdd(b, sums.WeightB, sums.B, sums.Start);
        Span<float> gramB = rank <= 64 ? stackalloc float[rank * rank] : new float[rank * rank];
        var transposed = t_transposed is { } buffer && buffer.Length >= rank * outFeatures ? buffer : t_transposed = new float[rank * outFeatures];
        for (int i = 0; i < outFeatures; i++)
            for (int p = 0; p < rank; p++) transposed[p * outFeatures + i] = b[i * rank + p];
        RowGram(transposed.AsSpan(0, rank * outFeatures), rank, outFeatures, gramB, ref next.B, default, 0, false);
        for (int p = 0; p < rank; p++) diagonalFinite &= float.IsFinite(gramB[p * rank + p]);
        double trace = 0;
        for (int p = 0; p < rank; p++)
        {
            trace += (double)gramA[p * rank + p] * gramB[p * rank + p];
            for (int q = p + 1; q < rank; q++) trace += 2.0 * gramA[p * rank + q] * gramB[p * rank + q];
        }
        return trace;
    }

    /// <summary>
    /// The trace against B^T B in <see cref="RotatedGram16"/>'s layout: lane p of row k pairs p with (p + k) mod 16. Rows 1-7
    /// hold every unordered pair at circular distance 1-7 once (weight 2, as the upper triangle), row 8 each pair at distance 8
    /// twice (weight 1), row 0 the diagonal. Where each lane's pair lies in A A^T's upper triangle is a table.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static double RotatedTrace16(ReadOnlySpan<float> gramA, ReadOnlySpan<float> rotated)
    {
        var pairs = RotatedPairs16;
        double trace = 0;
        for (int i = 0; i < pairs.Length; i++)
            trace += (i is < 16 or >= 128 ? 1.0 : 2.0) * gramA[pairs[i]] * rotated[i];
        return trace;
    }

    /// <summary>Lane p of row k: the index of (min(p, q), max(p, q)), q = (p + k) mod 16, in a 16 x 16 Gram's upper triangle.</summary>
    static readonly int[] RotatedPairs16 = [.. Enumerable.Range(0, 9 * 16).Select(i => (p: i % 16, q: (i % 16 + i / 16) & 15)).Select(x => Math.Min(x.p, x.q) * 16 + Math.Max(x.p, x.q))];

    /// <summary>
    /// gram[p * rank + q] = &lt;row p, row q&gt; for p &lt;= q (the upper triangle) of a rank x n row-major matrix.
    /// Each row appears in one diagonal block, which adds it into <paramref name="sums"/> (times <paramref name="weight"/>) when
    /// given; rows past the last block of four are added on their own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void RowGram(ReadOnlySpan<float> m, int rank, int n, Span<float> gram, ref LinePrefetch next, Span<float> sums, float weight, bool start)
    {
        int p = 0;
        fixed (float* rows = m)
        fixed (float* sumRows = sums)
        {
            for (; p + 4 <= rank; p += 4)
            {
                DiagonalBlock4(rows + (nint)p * n, n, gram.Slice(p * rank + p), rank, ref next, sumRows == null ? null : sumRows + (nint)p * n, weight, start);
                int q = p + 4;
                for (; q + 4 <= rank; q += 4) Block4x4(rows + (nint)p * n, rows + (nint)q * n, n, gram.Slice(p * rank + q), rank, ref next);
                for (; q < rank; q++)
                    for (int i = p; i < p + 4; i++) gram[i * rank + q] = TensorPrimitives.Dot(m.Slice(i * n, n), m.Slice(q * n, n));
            }
        }
        for (; p < rank; p++)
        {
            for (int q = p; q < rank; q++) gram[p * rank + q] = TensorPrimitives.Dot(m.Slice(p * n, n), m.Slice(q * n, n));
            if (!sums.IsEmpty) FactorKernels.Host.MultiplyAdd(m.Slice(p * n, n), weight, sums.Slice(p * n, n), start);
        }
    }

    // The kernels below address four rows as a pointer plus 0, n, 2n and 3n floats, and keep the prefetch position in a local:
    // eight row references and a prefetcher behind a reference had left too few registers, so the JIT reloaded row pointers
    // from the stack and updated the prefetch position in memory on every step (a store-to-load chain each iteration).

    /// <summary>
    /// The 10 dot products among the four rows at <paramref name="p"/> (a diagonal block: each pair once), into
    /// gram[x * rank + y], x &lt;= y; and the rows times <paramref name="weight"/> added into those at <paramref name="sum"/>
    /// unless it is null (the product, then the sum: numpy's a += p * a_k).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void DiagonalBlock4(float* p, int n, Span<float> gram, int rank, ref LinePrefetch next, float* sum, float weight, bool start)
    {
        var prefetch = next;
        nint n1 = n, n2 = 2 * n1, n3 = 3 * n1;
        bool add = sum != null;
        var w = Vector512.Create(weight);
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s11 = default, s12 = default, s13 = default,
            s22 = default, s23 = default, s33 = default;
        int j = 0;
        for (float* a = p, to = sum; j + 16 <= n; j += 16, a += 16, to += 16)
        {
            var a0 = Vector512.Load(a); var a1 = Vector512.Load(a + n1); var a2 = Vector512.Load(a + n2); var a3 = Vector512.Load(a + n3);
            if (add)
            {
                (a0 * w + (start ? default : Vector512.Load(to))).Store(to); (a1 * w + (start ? default : Vector512.Load(to + n1))).Store(to + n1);
                (a2 * w + (start ? default : Vector512.Load(to + n2))).Store(to + n2); (a3 * w + (start ? default : Vector512.Load(to + n3))).Store(to + n3);
            }
            prefetch.Step();
            prefetch.Step();
            s00 = Vector512.FusedMultiplyAdd(a0, a0, s00); s01 = Vector512.FusedMultiplyAdd(a0, a1, s01);
            s02 = Vector512.FusedMultiplyAdd(a0, a2, s02); s03 = Vector512.FusedMultiplyAdd(a0, a3, s03);
            s11 = Vector512.FusedMultiplyAdd(a1, a1, s11); s12 = Vector512.FusedMultiplyAdd(a1, a2, s12);
            s13 = Vector512.FusedMultiplyAdd(a1, a3, s13); s22 = Vector512.FusedMultiplyAdd(a2, a2, s22);
            s23 = Vector512.FusedMultiplyAdd(a2, a3, s23); s33 = Vector512.FusedMultiplyAdd(a3, a3, s33);
        }
        next = prefetch;
        Span<float> sums = [Vector512.Sum(s00), Vector512.Sum(s01), Vector512.Sum(s02), Vector512.Sum(s03), Vector512.Sum(s11), Vector512.Sum(s12),
            Vector512.Sum(s13), Vector512.Sum(s22), Vector512.Sum(s23), Vector512.Sum(s33)];
        for (int x = 0, i = 0; x < 4; x++)
            for (int y = x; y < 4; y++, i++)
            {
                for (int t = j; t < n; t++) sums[i] += p[x * n1 + t] * p[y * n1 + t];
                gram[x * rank + y] = sums[i];
            }
        if (add)
            for (int x = 0; x < 4; x++)
                for (int t = j; t < n; t++) sum[x * n1 + t] = p[x * n1 + t] * weight + (start ? 0 : sum[x * n1 + t]);
    }

    /// <summary>The 16 dot products of the four rows at <paramref name="p"/> with the four at <paramref name="q"/>, into gram[x * rank + y].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block4x4(float* p, float* q, int n, Span<float> gram, int rank, ref LinePrefetch next)
    {
        var prefetch = next;
        nint n1 = n, n2 = 2 * n1, n3 = 3 * n1;
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default,
            s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        int j = 0;
        for (float* a = p, b = q; j + 16 <= n; j += 16, a += 16, b += 16)
        {
            var a0 = Vector512.Load(a); var a1 = Vector512.Load(a + n1); var a2 = Vector512.Load(a + n2); var a3 = Vector512.Load(a + n3);
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + n1); var b2 = Vector512.Load(b + n2); var b3 = Vector512.Load(b + n3);
            prefetch.Step();
            prefetch.Step();
            s00 = Vector512.FusedMultiplyAdd(a0, b0, s00); s01 = Vector512.FusedMultiplyAdd(a0, b1, s01);
            s02 = Vector512.FusedMultiplyAdd(a0, b2, s02); s03 = Vector512.FusedMultiplyAdd(a0, b3, s03);
            s10 = Vector512.FusedMultiplyAdd(a1, b0, s10); s11 = Vector512.FusedMultiplyAdd(a1, b1, s11);
            s12 = Vector512.FusedMultiplyAdd(a1, b2, s12); s13 = Vector512.FusedMultiplyAdd(a1, b3, s13);
            s20 = Vector512.FusedMultiplyAdd(a2, b0, s20); s21 = Vector512.FusedMultiplyAdd(a2, b1, s21);
            s22 = Vector512.FusedMultiplyAdd(a2, b2, s22); s23 = Vector512.FusedMultiplyAdd(a2, b3, s23);
            s30 = Vector512.FusedMultiplyAdd(a3, b0, s30); s31 = Vector512.FusedMultiplyAdd(a3, b1, s31);
            s32 = Vector512.FusedMultiplyAdd(a3, b2, s32); s33 = Vector512.FusedMultiplyAdd(a3, b3, s33);
        }
        next = prefetch;
        Span<float> sums = [Vector512.Sum(s00), Vector512.Sum(s01), Vector512.Sum(s02), Vector512.Sum(s03), Vector512.Sum(s10), Vector512.Sum(s11),
            Vector512.Sum(s12), Vector512.Sum(s13), Vector512.Sum(s20), Vector512.Sum(s21), Vector512.Sum(s22), Vector512.Sum(s23),
            Vector512.Sum(s30), Vector512.Sum(s31), Vector512.Sum(s32), Vector512.Sum(s33)];
        for (; j < n; j++)
            for (int x = 0; x < 4; x++)
                for (int y = 0; y < 4; y++) sums[x * 4 + y] += p[x * n1 + j] * q[y * n1 + j];
        for (int x = 0; x < 4; x++)
            for (int y = 0; y < 4; y++) gram[x * rank + y] = sums[x * 4 + y];
    }

    /// <summary>
    /// B^T B for rank 16 from each row v of B as one vector: v times v rotated by k lanes (k = 0..8) gives, in lane p,
    /// B_ip B_i(p+k mod 16), which covers every pair of columns (nine FMAs and eight in-register rotations a row, where the
    /// full outer product takes sixteen FMAs: 1.5x faster measured).
    /// </summary>
    /// <param name="sums">When not empty, each row times <paramref name="weight"/> is added into its row here (written, from the <paramref name="start"/>).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void RotatedGram16(ReadOnlySpan<float> b, int rows, Span<float> rotated, ref LinePrefetch next, Span<float> sums, float weight, bool start)
    {
        var prefetch = next;
        bool add = !sums.IsEmpty;
        var w = Vector512.Create(weight);
        Vector512<float> g0 = default, g1 = default, g2 = default, g3 = default, g4 = default, g5 = default, g6 = default, g7 = default, g8 = default;
        fixed (float* first = b)
        fixed (float* sumStart = sums)
            for (float* row = first, end = first + (nint)rows * 16, sum = sumStart; row < end; row += 16, sum += 16)
            {
                var v = Vector512.Load(row);
                if (add) (v * w + (start ? default : Vector512.Load(sum))).Store(sum);
                var u = v.AsUInt32();
                prefetch.Step();
                g0 = Vector512.FusedMultiplyAdd(v, v, g0);
                g1 = Vector512.FusedMultiplyAdd(v, Rotate(u, 1), g1);
                g2 = Vector512.FusedMultiplyAdd(v, Rotate(u, 2), g2);
                g3 = Vector512.FusedMultiplyAdd(v, Rotate(u, 3), g3);
                g4 = Vector512.FusedMultiplyAdd(v, Rotate(u, 4), g4);
                g5 = Vector512.FusedMultiplyAdd(v, Rotate(u, 5), g5);
                g6 = Vector512.FusedMultiplyAdd(v, Rotate(u, 6), g6);
                g7 = Vector512.FusedMultiplyAdd(v, Rotate(u, 7), g7);
                g8 = Vector512.FusedMultiplyAdd(v, Rotate(u, 8), g8);
            }
        next = prefetch;
        // Stored one by one: a collection of the accumulators would take their addresses, and the JIT would keep them in memory.
        ref float to = ref MemoryMarshal.GetReference(rotated);
        g0.StoreUnsafe(ref to, 0); g1.StoreUnsafe(ref to, 16); g2.StoreUnsafe(ref to, 32); g3.StoreUnsafe(ref to, 48);
        g4.StoreUnsafe(ref to, 64); g5.StoreUnsafe(ref to, 80); g6.StoreUnsafe(ref to, 96); g7.StoreUnsafe(ref to, 112);
        g8.StoreUnsafe(ref to, 128);
    }

    /// <summary>Lane p of the result is lane (p + k) mod 16 of <paramref name="v"/> (one valignd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Rotate(Vector512<uint> v, [ConstantExpected] byte k) =>
        Avx512F.IsSupported ? Avx512F.AlignRight32(v, v, k).AsSingle() : Vector512.Shuffle(v, Vector512<uint>.Indices + Vector512.Create((uint)k) & Vector512.Create(15u)).AsSingle();

    static FactorCheck ScanOnDevice(LoraModule module)
    {
        using var scope = NewDisposeScope();
        if (!module.A.isfinite().all().item<bool>() || !module.B.isfinite().all().item<bool>()) return new(false, double.NaN);
        double norm = LoraNorms.Frobenius(module);
        return new(true, norm * norm);
    }

    /// <summary>The tensor's values as float32: its own storage when contiguous float32 (returns null), else a converted copy to dispose.</summary>
    static Tensor? Float32(Tensor t, out ReadOnlySpan<float> values)
    {
        if (t.dtype == ScalarType.Float32 && t.is_contiguous())
        {
            values = MemoryMarshal.Cast<byte, float>(t.bytes);
            return null;
        }
        var copy = t.to(ScalarType.Float32).contiguous();
        values = MemoryMarshal.Cast<byte, float>(copy.bytes);
        return copy;
    }
}

/// <summary>
/// Where a caller sums the factors it scans: A += WeightA * A_k, B += WeightB * B_k (row-major, the factors' shapes). With
/// <see cref="Start"/> the sums hold nothing yet (uninitialised memory) and the products are written as adding them to zeros
/// would: one pass less over the output.
/// </summary>
public readonly ref struct FactorSums(Span<float> a, float weightA, Span<float> b, float weightB, bool start = false)
{
    public bool Start { get; } = start;
    public Span<float> A { get; } = a;
    public Span<float> B { get; } = b;
    public float WeightA { get; } = weightA;
    public float WeightB { get; } = weightB;
}

/// <summary>
/// Software prefetch of the factors a caller reads next, one cache line per step, from the Gram's compute-bound loops: memory
/// then streams in while the core computes, instead of stalling the next client's first read. A A^T's loops fetch the next A,
/// B^T B's the next B (at rank 16 each has a step for every line of its factor). (Prefetching a whole factor at once stalls
/// as long as reading it: the core runs out of miss buffers.)
/// </summary>
public struct Prefetcher(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
{
    internal LinePrefetch A = new(a), B = new(b);
}

/// <summary>One range fetched into L2 a cache line per <see cref="Step"/>, past its end nothing.</summary>
unsafe struct LinePrefetch
{
    byte* _next, _end;

    public LinePrefetch(ReadOnlySpan<float> range)
    {
        if (!Sse.IsSupported) return;
        _next = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(range));
        _end = _next + (long)range.Length * sizeof(float);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step()
    {
        if (_next < _end)
        {
            Sse.Prefetch1(_next);
            _next += 64;
        }
    }
}
