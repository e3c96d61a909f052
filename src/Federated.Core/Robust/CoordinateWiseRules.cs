using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>
/// A rule that works coordinate by coordinate on dW (median, trimmed mean, Bulyan). Its result is not a combination of
/// the updates: per module a dense D, which <see cref="DenseFactoring"/> writes as a LoRA module (exactly, B = D and A = I,
/// or truncated to a rank with its error reported).
/// <para>
/// Memory: module by module, and within a module in tiles of rows: a worker (one per core) computes the K deltas' values
/// for a tile's rows 16 columns at a time from the factors (<see cref="ModuleDeltas"/>), selects per coordinate with a
/// sorting network on the 16 lanes at once (<see cref="SortingNetwork"/>) and writes D. Peak memory is the input plus one
/// module's D plus K x tile per core, whatever the number or size of the modules, and the same call after call (nothing
/// is allocated per tile). Weights are ignored, as in the original rules.
/// </para>
/// </summary>
public abstract class CoordinateWiseRule(long maxDenseBytes)
{
    /// <summary>Default limit for the dense delta values one worker holds at once: 2 GiB (tiles stay far below it).</summary>
    public const long DefaultMaxDenseBytes = 2L << 30;

    /// <summary>A tile's K x rows x 16 values: a quarter of a typical L2, so the selection reads what the deltas just wrote from cache.</summary>
    const long TileBytes = 256 << 10;

    public long MaxDenseBytes { get; } = maxDenseBytes;
    public abstract string Name { get; }

    /// <summary>The robust global adapter, exactly (B = D, A = I), and which updates the rule let in (all, except for Bulyan's selection).</summary>
    /// <param name="scan">Filled with each update's checks and norms as its factors are read.</param>
    public (LoraAdapter Global, bool[] Used) Aggregate(IReadOnlyList<LoraAdapter> updates, UpdateScan? scan = null)
    {
        var (global, used, _) = Aggregate(updates, DenseFactoring.Exact, scan);
        return (global, used);
    }

    /// <summary>The robust global adapter written by <paramref name="factoring"/>, which updates the rule let in, and how each module was written.</summary>
    public (LoraAdapter Global, bool[] Used, IReadOnlyList<ModuleFactoring> Factoring) Aggregate(IReadOnlyList<LoraAdapter> updates,
        DenseFactoring factoring, UpdateScan? scan = null)
    {
        var used = Select(updates, scan);
        var chosen = Enumerable.Range(0, updates.Count).Where(i => used[i]).ToArray();
        var columns = ModuleAlignment.Align(chosen.Select(i => updates[i]).ToList());
        var modules = new List<LoraModule>(columns.Count);
        var reports = new List<ModuleFactoring>(columns.Count);
        try
        {
            // Module by module: one module's D (and its factoring's work) at a time, whatever the adapter's size.
            for (int c = 0; c < columns.Count; c++)
            {
                using var dense = CombineModule(columns[c], scan is null ? default : scan.Column(c).Of(chosen));
                var (module, report) = factoring.Factor(columns[c][0], columns[c].Max(m => m.Rank), dense);
                modules.Add(module);
                reports.Add(report);
            }
            return (new LoraAdapter(modules, updates[0].BaseModel), used, reports);
        }
        catch
        {
            foreach (var m in modules) m.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The rule on one module's column of updates (the same module from each, all of them used): the dense d_out x d_in
    /// float32 result. What a worker that holds only some modules calls.
    /// </summary>
    public Tensor CombineModule(IReadOnlyList<LoraModule> column, ColumnScan scan = default)
    {
        int n = column.Count;
        Validate(n);
        var first = column[0];
        long rowBytes = (long)n * ModuleDeltas.Lanes * sizeof(float);
        if (rowBytes > MaxDenseBytes)
            throw new RobustRuleException(
                $"{Name} holds {n} x {ModuleDeltas.Lanes} float32 delta values per row of module '{first.Name}' ({rowBytes:N0} bytes), " +
                $"above the {MaxDenseBytes:N0}-byte limit; raise the limit or use a Gram-based rule");
        // Enough tiles for every core to have several, each within the cache-sized and configured budgets.
        int rows = (int)Math.Clamp(Math.Min(TileBytes, MaxDenseBytes) / rowBytes, 1, Math.Max(1, first.OutFeatures / (4 * Environment.ProcessorCount)));
        int tiles = (first.OutFeatures + rows - 1) / rows;

        using var deltas = new ModuleDeltas(column, scan);
        var dense = empty(first.OutFeatures, first.InFeatures, float32);
        nint output = Address(dense);
        Parallel.For(0, tiles, CoreWorkers.Bounded, () => new Vector512<float>[rows * n], [MethodImpl(MethodImplOptions.AggressiveOptimization)] (tile, _, values) =>
        {
            int top = tile * rows, count = Math.Min(rows, first.OutFeatures - top);
            for (int j = 0; j < first.InFeatures; j += ModuleDeltas.Lanes)
            {
                deltas.Block(top, count, j, values);
                for (int r = 0; r < count; r++)
                    Store(Reduce(values.AsSpan(r * n, n)), output, (long)(top + r) * first.InFeatures + j, Math.Min(ModuleDeltas.Lanes, first.InFeatures - j));
            }
            return values;
        }, _ => { });
        return dense;
    }

    /// <summary>Which updates enter the coordinate-wise statistic.</summary>
    protected virtual bool[] Select(IReadOnlyList<LoraAdapter> updates, UpdateScan? scan) => Enumerable.Repeat(true, updates.Count).ToArray();

    /// <summary>Refuses a count of updates the rule cannot work with.</summary>
    protected virtual void Validate(int n) { }

    /// <summary>
    /// The statistic of 16 coordinates at once: lane l of <paramref name="values"/>[k] is update k's value at coordinate l.
    /// May reorder <paramref name="values"/>.
    /// </summary>
    protected abstract Vector512<float> Reduce(Span<Vector512<float>> values);

    /// <summary>The lower median (torch.median's convention): the floor((n + 1) / 2)-th smallest, at sorted position (n - 1) / 2.</summary>
    protected static int LowerMedian(int n) => (n - 1) / 2;

    static unsafe void Store(Vector512<float> result, nint output, long offset, int width)
    {
        float* to = (float*)output + offset;
        if (width == ModuleDeltas.Lanes) result.Store(to);
        else
            for (int l = 0; l < width; l++) to[l] = result[l];
    }

    static unsafe nint Address(Tensor t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<byte, float>(t.bytes)));
}

/// <summary>
/// Coordinate-wise median (Yin et al., ICML'18). For an even count it takes the lower of the two middle
/// values, as torch.median does (numpy averages them). Tolerates f &lt; n/2.
/// </summary>
public sealed class CoordinateMedian(long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) : CoordinateWiseRule(maxDenseBytes)
{
    public override string Name => "median";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override Vector512<float> Reduce(Span<Vector512<float>> values)
    {
        int m = LowerMedian(values.Length);
        SortingNetwork.For(values.Length, m, m + 1).Apply(values);
        return values[m];
    }
}

/// <summary>
/// Coordinate-wise trimmed mean: drop the <paramref name="trim"/> largest and smallest values, average the rest (f &lt;= trim &lt; n/2).
/// The kept values are summed in float32 in ascending order, so the result matches a sort-then-mean to float rounding.
/// </summary>
public sealed class TrimmedMean(int trim, long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) : CoordinateWiseRule(maxDenseBytes)
{
    public override string Name => "trimmed-mean";

    protected override void Validate(int n)
    {
        if (trim < 0 || 2 * trim >= n)
            throw new RobustRuleException($"{Name} needs 0 <= b < n/2, but n = {n} with b = {trim}");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override Vector512<float> Reduce(Span<Vector512<float>> values)
    {
        int n = values.Length;
        SortingNetwork.For(n, trim, n - trim).Apply(values);
        var sum = Vector512<float>.Zero;
        for (int k = trim; k < n - trim; k++) sum += values[k];
        return sum / Vector512.Create((float)(n - 2 * trim));
    }
}

/// <summary>
/// Bulyan (El Mhamdi et al., ICML'18): theta = n - 2f updates chosen by repeated Krum (each round drops
/// the chosen one and rescoring the rest), then per coordinate the mean of the beta = theta - 2f values
/// closest to the median of the chosen. Needs n >= 4f + 3. The beta closest values are a run of the sorted values around
/// the median, grown one value at a time towards the nearer neighbour (the lower one on a tie).
/// </summary>
public sealed class Bulyan(int f, long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) : CoordinateWiseRule(maxDenseBytes)
{
    public override string Name => "bulyan";

    protected override bool[] Select(IReadOnlyList<LoraAdapter> updates, UpdateScan? scan)
    {
        int n = updates.Count;
        if (f < 0 || n < 4 * f + 3)
            throw new RobustRuleException($"{Name} needs n >= 4f + 3 updates, but n = {n} with f = {f}");
        return Choose(UpdateGram.Compute(updates, scan: scan));
    }

    /// <summary>
    /// Bulyan's selection from the updates' Gram alone: what a worker holding only some modules receives, computed once
    /// from the Gram summed over all modules.
    /// </summary>
    public bool[] Choose(UpdateGram gram)
    {
        int n = gram.Count;
        if (f < 0 || n < 4 * f + 3)
            throw new RobustRuleException($"{Name} needs n >= 4f + 3 updates, but n = {n} with f = {f}");
        var remaining = Enumerable.Range(0, n).ToList();
        var used = new bool[n];
        for (int chosen = 0; chosen < n - 2 * f; chosen++)
        {
            // Krum on what is left; with few left, the neighbour count n' - f - 2 bottoms out at one.
            var scores = Krum.NeighbourScores(gram.Select(remaining), Math.Max(1, remaining.Count - f - 2));
            int best = Krum.Best(scores, 1).First();
            used[remaining[best]] = true;
            remaining.RemoveAt(best);
        }
        return used;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override Vector512<float> Reduce(Span<Vector512<float>> values)
    {
        int theta = values.Length, beta = theta - 2 * f, m = LowerMedian(theta);
        SortingNetwork.For(theta, 0, theta).Apply(values);
        Span<float> result = stackalloc float[ModuleDeltas.Lanes];
        for (int l = 0; l < ModuleDeltas.Lanes; l++)
        {
            float median = values[m][l], sum = median;
            int low = m, high = m;
            for (int taken = 1; taken < beta; taken++)
            {
                bool lower = high + 1 >= theta || (low > 0 && median - values[low - 1][l] <= values[high + 1][l] - median);
                sum += lower ? values[--low][l] : values[++high][l];
            }
            result[l] = sum / beta;
        }
        return Vector512.Create<float>(result);
    }
}
