using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// FLoRA stacking (ALGORITHMS.md A2): per module, A_st = [c_1 s_1 A_1; ...; c_K s_K A_K] and
/// B_st = [B_1, ..., B_K] at rank R = sum r_k with global scale 1, so that B_st A_st = sum_k c_k dW_k
/// exactly, for any ranks, alphas and coefficients. The result is merged into the base
/// (W += B_st A_st) and clients restart from fresh LoRA modules.
/// </summary>
public sealed class FloraStacking(ScalarType? outputDType = null) : IAggregationStrategy
{
    public string Name => "flora";
    public bool IsExact => true;

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients)
    {
        ClientWeights.Validate(updates, coefficients);
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        var modules = ModuleAlignment.Align(updates).Select(column => Stack(column, coefficients, dtype)).ToList();
        return new LoraAdapter(modules, updates[0].BaseModel);
    }

    /// <summary>Stacks one module; the result has scale 1 (alpha = R, or sqrt(R) under rsLoRA).</summary>
    public static LoraModule Stack(LoraModule[] column, IReadOnlyList<double> coefficients, ScalarType dtype)
    {
        var (a, b) = StackFactors(column, coefficients, dtype);
        return column[0].With(a, b, LoraScaling.AlphaFor(1.0, (int)a.shape[0], column[0].UseRsLora));
    }

    /// <summary>(A_st, B_st) with B_st A_st = sum_k c_k dW_k, in any floating dtype (float64 for refactoring).</summary>
    internal static (Tensor A, Tensor B) StackFactors(LoraModule[] column, IReadOnlyList<double> coefficients, ScalarType dtype)
    {
        int stackedRank = column.Sum(m => m.Rank);
        var first = column[0];
        var a = empty(stackedRank, first.InFeatures, dtype);
        var b = empty(first.OutFeatures, stackedRank, dtype);
        using (no_grad())
        {
            int offset = 0;
            for (int k = 0; k < column.Length; k++)
            {
                var m = column[k];
                // The scale goes on A: its row block is contiguous, so the multiply runs on a cache-hot slice.
                using var aBlock = a.narrow(0, offset, m.Rank);
                aBlock.copy_(m.A).mul_(coefficients[k] * m.Scale);
                using var bBlock = b.narrow(1, offset, m.Rank);
                bBlock.copy_(m.B);
                offset += m.Rank;
            }
        }
        return (a, b);
    }
}
