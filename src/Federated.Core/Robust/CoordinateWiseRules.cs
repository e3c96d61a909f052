using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>
/// A rule that works coordinate by coordinate on materialised dW (median, trimmed mean, Bulyan). Its
/// result is not a combination of the updates, so it is returned as a LoRA module per module that
/// reproduces the dense result D bit for bit: B = D, A = I (or B = I, A = D when d_out &lt; d_in), at
/// rank min(d_out, d_in) and scale 1. (An SVD would allow truncation but costs more than the rule.)
/// Memory: one module at a time, the K dense deltas (K x d_out x d_in float32) plus a sorted copy:
/// about 2 x 4 x K x d_out x d_in bytes at peak (K = 100 on a 4864 x 896 MLP layer: 3.5 GB), which is
/// why <see cref="MaxDenseBytes"/> refuses larger inputs. Weights are ignored, as in the original rules.
/// </summary>
public abstract class CoordinateWiseRule(long maxDenseBytes)
{
    /// <summary>Default limit for the K dense deltas of one module: 2 GiB.</summary>
    public const long DefaultMaxDenseBytes = 2L << 30;

    public long MaxDenseBytes { get; } = maxDenseBytes;
    public abstract string Name { get; }

    /// <summary>The robust global adapter, and which updates the rule let in (all, except for Bulyan's selection).</summary>
    public (LoraAdapter Global, bool[] Used) Aggregate(IReadOnlyList<LoraAdapter> updates)
    {
        int n = updates.Count;
        var used = Select(updates);
        var chosen = Enumerable.Range(0, n).Where(i => used[i]).Select(i => updates[i]).ToList();
        var global = ModuleAlignment.Combine(chosen, column =>
        {
            long bytes = 4L * column.Length * column[0].OutFeatures * column[0].InFeatures;
            if (bytes > MaxDenseBytes)
                throw new RobustRuleException(
                    $"{Name} materialises {column.Length} x {column[0].OutFeatures} x {column[0].InFeatures} float32 deltas for module " +
                    $"'{column[0].Name}' ({bytes:N0} bytes), above the {MaxDenseBytes:N0}-byte limit; raise the limit or use a Gram-based rule");
            using var scope = NewDisposeScope();
            var deltas = stack(column.Select(m => m.DenseDelta()).ToList());
            return Factor(column[0], Combine(deltas));
        });
        return (global, used);
    }

    /// <summary>Which updates enter the coordinate-wise statistic.</summary>
    protected virtual bool[] Select(IReadOnlyList<LoraAdapter> updates) => Enumerable.Repeat(true, updates.Count).ToArray();

    /// <summary>The statistic over dim 0 of the stacked deltas (K x d_out x d_in).</summary>
    protected abstract Tensor Combine(Tensor deltas);

    /// <summary>The lower median over dim 0 (torch.median's convention): the floor((n + 1) / 2)-th smallest.</summary>
    protected static Tensor LowerMedian(Tensor deltas) => deltas.kthvalue((deltas.size(0) + 1) / 2, 0, false).Item1;

    static LoraModule Factor(LoraModule like, Tensor dense)
    {
        int rank = Math.Min(like.OutFeatures, like.InFeatures);
        var result = dense.to(float32).contiguous().MoveToOuterDisposeScope();
        var identity = eye(rank, dtype: float32).MoveToOuterDisposeScope();
        var (a, b) = like.OutFeatures >= like.InFeatures ? (identity, result) : (result, identity);
        return new LoraModule(like.Name, a, b, LoraScaling.AlphaFor(1.0, rank, like.UseRsLora), like.UseRsLora);
    }
}

/// <summary>
/// Coordinate-wise median (Yin et al., ICML'18). For an even count it takes the lower of the two middle
/// values, as torch.median does (numpy averages them). Tolerates f &lt; n/2.
/// </summary>
public sealed class CoordinateMedian(long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) : CoordinateWiseRule(maxDenseBytes)
{
    public override string Name => "median";
    protected override Tensor Combine(Tensor deltas) => LowerMedian(deltas);
}

/// <summary>Coordinate-wise trimmed mean: drop the <paramref name="trim"/> largest and smallest values, average the rest (f &lt;= trim &lt; n/2).</summary>
public sealed class TrimmedMean(int trim, long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) : CoordinateWiseRule(maxDenseBytes)
{
    public override string Name => "trimmed-mean";

    protected override Tensor Combine(Tensor deltas)
    {
        long n = deltas.size(0);
        if (trim < 0 || 2 * trim >= n)
            throw new RobustRuleException($"{Name} needs 0 <= b < n/2, but n = {n} with b = {trim}");
        return deltas.sort(0).Values.narrow(0, trim, n - 2 * trim).mean([0]);
    }
}

/// <summary>
/// Bulyan (El Mhamdi et al., ICML'18): theta = n - 2f updates chosen by repeated Krum (each round drops
/// the chosen one and rescoring the rest), then per coordinate the mean of the beta = theta - 2f values
/// closest to the median of the chosen. Needs n >= 4f + 3.
/// </summary>
public sealed class Bulyan(int f, long maxDenseBytes = CoordinateWiseRule.DefaultMaxDenseBytes) : CoordinateWiseRule(maxDenseBytes)
{
    public override string Name => "bulyan";

    protected override bool[] Select(IReadOnlyList<LoraAdapter> updates)
    {
        int n = updates.Count;
        if (f < 0 || n < 4 * f + 3)
            throw new RobustRuleException($"{Name} needs n >= 4f + 3 updates, but n = {n} with f = {f}");
        var gram = UpdateGram.Compute(updates);
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

    protected override Tensor Combine(Tensor deltas)
    {
        long theta = deltas.size(0), beta = theta - 2 * f;
        var median = LowerMedian(deltas);
        var closest = (deltas - median).abs().topk((int)beta, 0, largest: false, sorted: false).Item2;
        return deltas.gather(0, closest).mean([0]);
    }
}
