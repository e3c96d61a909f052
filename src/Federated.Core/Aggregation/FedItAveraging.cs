using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// FedIT: FedAvg of A and B separately, A_g = sum p_k A_k, B_g = sum p_k B_k (ALGORITHMS.md A1).
/// Homogeneous ranks only. Not exact: B_g A_g - sum p_k B_k A_k = -sum p_k (B_k - B_g)(A_k - A_g).
/// </summary>
public sealed class FedItAveraging(ScalarType? outputDType = null) : IAggregationStrategy
{
    public string Name => "fedit";
    public bool IsExact => false;

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients, UpdateScan? scan = null)
    {
        ClientWeights.Validate(updates, coefficients);
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        var columns = ModuleAlignment.Align(updates);
        var mixed = columns.FirstOrDefault(column => column.Any(m => m.Rank != column[0].Rank));
        if (mixed is not null)
            throw new IncompatibleAdaptersException(
                $"fedit needs the same rank from every client, but module '{mixed[0].Name}' has ranks {string.Join(", ", mixed.Select(m => m.Rank))}; " +
                "use flora, zero-padding or flexlora for mixed ranks");
        return ModuleAlignment.Combine(columns, updates[0].BaseModel, scan, (column, columnScan) => FactorAveraging.Average(column, coefficients, dtype, columnScan));
    }
}
