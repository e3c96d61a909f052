using Federated.Core.Adapters;

namespace Federated.Core.Export;

/// <summary>No rank vLLM accepts keeps every module within the requested relative error.</summary>
public sealed class ExportBoundException(double maxError, double errorAtLargest, string module)
    : AdapterException(FormattableString.Invariant(
        $"no vLLM rank meets the relative error bound {maxError:G3}: at rank {VllmRanks.Largest} module '{module}' still has {errorAtLargest:G3}"))
{
    public double MaxError { get; } = maxError;

    /// <summary>The largest per-module relative error at <see cref="VllmRanks.Largest"/>.</summary>
    public double ErrorAtLargestRank { get; } = errorAtLargest;

    public string Module { get; } = module;
}
