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

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients)
    {
        ClientWeights.Validate(updates, coefficients);
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        var modules = new List<LoraModule>();
        foreach (var column in ModuleAlignment.Align(updates))
        {
            var ranks = column.Select(m => m.Rank).Distinct().ToList();
            if (ranks.Count > 1)
                throw new IncompatibleAdaptersException(
                    $"fedit needs the same rank from every client, but module '{column[0].Name}' has ranks {string.Join(", ", column.Select(m => m.Rank))}; " +
                    "use flora, zero-padding or flexlora for mixed ranks");
            modules.Add(FactorAveraging.Average(column, coefficients, dtype));
        }
        return new LoraAdapter(modules, updates[0].BaseModel);
    }
}
