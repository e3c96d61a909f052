using Federated.Core.Adapters;
using Federated.Core.Robust;

namespace Federated.Core.Aggregation;

/// <summary>
/// A strategy that may write a module of its combination at another rank than its inputs give (FLoRA's stack bounded by the
/// module's dimensions, or truncated by energy), and reports per re-factored module the rank written and the relative
/// Frobenius error ||D - B A||_F / ||D||_F of the combination D it stands for.
/// </summary>
public interface IFactoringStrategy : IAggregationStrategy
{
    /// <returns>The global, and one entry per module it re-factored in the global's module order (null when none was).</returns>
    (LoraAdapter Global, IReadOnlyList<ModuleFactoring>? Factoring) AggregateWithFactoring(IReadOnlyList<LoraAdapter> updates,
        IReadOnlyList<double> coefficients, UpdateScan? scan = null);
}
