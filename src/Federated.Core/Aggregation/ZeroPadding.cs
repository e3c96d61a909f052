using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// Zero-padding for mixed ranks (HetLoRA, ALGORITHMS.md A5): factors padded to the largest rank per
/// module, then averaged like FedIT. With <paramref name="normWeighted"/> (HetLoRA's sparsity-weighted
/// aggregation) client k's weight per module is c_k ||dW_k||_F, normalised; otherwise c_k.
/// Norm-proportional weights reward large updates, so clip or use a robust rule first.
/// </summary>
public sealed class ZeroPadding(bool normWeighted = false, ScalarType? outputDType = null) : IAggregationStrategy
{
    public string Name => normWeighted ? "hetlora" : "zero-padding";
    public bool IsExact => false;

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients, UpdateScan? scan = null)
    {
        ClientWeights.Validate(updates, coefficients);
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        return ModuleAlignment.Combine(updates, scan, (column, columnScan) =>
        {
            IReadOnlyList<double> weights = coefficients;
            if (normWeighted)
            {
                var raw = column.Select((m, k) => coefficients[k] * LoraNorms.Frobenius(m)).ToArray();
                weights = raw.Sum() > 0 ? ClientWeights.Normalize(raw) : coefficients;
            }
            // The norm-weighted form reads each client's factors twice (norms, then the average); the scan goes with the second read.
            return FactorAveraging.Average(column, weights, dtype, columnScan);
        });
    }
}
