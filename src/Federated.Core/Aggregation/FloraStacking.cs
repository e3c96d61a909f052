using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// FLoRA stacking (ALGORITHMS.md A2): per module, A_st = [c_1 s_1 A_1; ...; c_K s_K A_K] and
/// B_st = [B_1, ..., B_K] at rank R = sum r_k with global scale 1, so that B_st A_st = sum_k c_k dW_k
/// exactly, for any ranks, alphas and coefficients; updates with coefficient zero are left out. The result is merged into the base
/// (W += B_st A_st) and clients restart from fresh LoRA modules.
/// </summary>
public sealed class FloraStacking(ScalarType? outputDType = null) : IAggregationStrategy
{
    public string Name => "flora";
    public bool IsExact => true;

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients, UpdateScan? scan = null)
    {
        ClientWeights.Validate(updates, coefficients);
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        // An update with coefficient zero adds nothing to sum_k c_k dW_k: left out, the stack has the kept updates' rank
        // (Krum keeping one update of a hundred yields that update's rank, not the hundred's).
        // Left-out updates are not read, so not scanned either.
        var kept = Enumerable.Range(0, updates.Count).Where(k => coefficients[k] != 0).ToArray();
        if (kept.Length == 0 || kept.Length == updates.Count)
            return ModuleAlignment.Combine(updates, scan, (column, columnScan) => Stack(column, coefficients, dtype, columnScan));
        var keptCoefficients = kept.Select(k => coefficients[k]).ToList();
        return ModuleAlignment.Combine(kept.Select(k => updates[k]).ToList(), scan,
            (column, columnScan) => Stack(column, keptCoefficients, dtype, columnScan.Of(kept)));
    }

    /// <summary>Stacks one module; the result has scale 1 (alpha = R, or sqrt(R) under rsLoRA).</summary>
    public static LoraModule Stack(LoraModule[] column, IReadOnlyList<double> coefficients, ScalarType dtype, ColumnScan scan = default)
    {
        var accumulator = dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var (a, b) = StackFactors(column, coefficients, accumulator, FactorKernels.For(column), scan);
        double alpha = LoraScaling.AlphaFor(1.0, column.Sum(m => m.Rank), column[0].UseRsLora);
        return column[0].With(FactorAveraging.Into(a, dtype), FactorAveraging.Into(b, dtype), alpha);
    }

    /// <summary>(A_st, B_st) in float32 or float64 with B_st A_st = sum_k c_k dW_k.</summary>
    /// <param name="scan">Each client's factors are scanned right before its A block is copied (B follows in bands, from cache).</param>
    internal static (Tensor A, Tensor B) StackFactors(LoraModule[] column, IReadOnlyList<double> coefficients, ScalarType dtype, FactorKernels kernels,
        ColumnScan scan = default)
    {
        int stackedRank = column.Sum(m => m.Rank);
        var first = column[0];
        var a = empty(stackedRank, first.InFeatures, dtype, first.A.device);
        int offset = 0;
        for (int k = 0; k < column.Length; k++)
        {
            scan.Visit(k, column[k]);
            // The scale goes on A, whose row block is contiguous; B blocks are copied unchanged.
            kernels.RowBlock(column[k].A, a, offset, coefficients[k] * column[k].Scale, accumulate: false);
            offset += column[k].Rank;
        }
        return (a, kernels.ConcatColumns(column.Select(m => m.B).ToList(), dtype));
    }
}
