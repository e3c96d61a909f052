using Federated.Core.Adapters;

namespace Federated.Core.Aggregation;

/// <summary>
/// How the LoRA factors of several clients combine into one global adapter. The coefficients are the
/// per-client weights of the combination (p_k from example counts, or a robust rule's gamma_k).
/// Inputs are not modified or disposed; the result owns new tensors.
/// </summary>
public interface IAggregationStrategy
{
    /// <summary>The name used on the command line and in federation configs.</summary>
    string Name { get; }

    /// <summary>True when the result's dW equals sum_k c_k dW_k exactly for every input it accepts.</summary>
    bool IsExact { get; }

    /// <param name="scan">Filled with each update's checks and norms as its factors are read (see <see cref="UpdateScan"/>); optional.</param>
    LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients, UpdateScan? scan = null);
}
