using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Export;

/// <summary>
/// A federation's whole update as one adapter: the sum of its merged deltas (one FLoRA stack per round, say, at any
/// ranks, alphas and module sets), exactly or truncated to a rank. A module some deltas lack sums over the others.
/// Modules come in order of first appearance; inputs are not disposed. Every export has scale 1 (alpha = rank, no
/// rsLoRA), whatever the deltas used: each module's factors already carry their delta's scale.
/// </summary>
public static class CumulativeExport
{
    /// <summary>
    /// dW = sum_j s_j B_j A_j per module exactly, as the FLoRA stack of the deltas: A's row blocks s_j A_j, B's column
    /// blocks B_j, rank the sum of the ranks. Float32.
    /// </summary>
    public static LoraAdapter Exact(IReadOnlyList<LoraAdapter> deltas, string? baseModel = null)
    {
        var columns = DeltaHistory.Columns(deltas);
        return Build(columns, column =>
        {
            var (a, b) = FloraStacking.StackFactors(column, Ones(column.Length), float32, FactorKernels.For(column));
            return new LoraModule(column[0].Name, a, b, alpha: column.Sum(m => m.Rank));
        }, BaseModel(deltas, baseModel));
    }

    /// <summary>The report of an <see cref="Exact"/> export: every module kept whole, no error.</summary>
    public static ExportReport ExactReport(IReadOnlyList<LoraAdapter> deltas) =>
        ExportReport.Create("exact", rank: null, bound: null, deltas, DeltaHistory.Columns(deltas).Select(column =>
        {
            var first = column[0];
            int r = column.Sum(m => m.Rank);
            return new ModuleExportReport(first.Name, first.OutFeatures, first.InFeatures, r, r, RetainedEnergy: 1, RelativeError: 0, "stacked");
        }).ToList());

    /// <summary>
    /// Per module the best rank-<paramref name="rank"/> approximation of the cumulative dW (Eckart-Young), from the
    /// deltas' factors (<see cref="ModuleSpectrum"/>), one module at a time. A module whose cumulative rank is at most
    /// <paramref name="rank"/> is exported exactly. Float32 factors computed in float64.
    /// </summary>
    public static (LoraAdapter Adapter, ExportReport Report) Truncated(IReadOnlyList<LoraAdapter> deltas, int rank, string? baseModel = null)
    {
        if (rank <= 0)
            throw new ArgumentException($"rank must be positive, got {rank}", nameof(rank));
        return Truncate(deltas, rank, "truncated", bound: null, baseModel);
    }

    /// <summary>
    /// The smallest export vLLM serves within <paramref name="maxError"/> relative Frobenius error on every module: the
    /// first of <see cref="VllmRanks.Allowed"/> that meets the bound, or the exact rank (the largest module's
    /// min(R, d_out, d_in)) when that is smaller and within <see cref="VllmRanks.Largest"/>. The singular values are
    /// computed once to choose (kept, O(R) a module), then the chosen rank is built as <see cref="Truncated"/> builds it.
    /// </summary>
    /// <exception cref="ExportBoundException">Even rank <see cref="VllmRanks.Largest"/> leaves a module above the bound.</exception>
    public static (LoraAdapter Adapter, ExportReport Report) ForVllm(IReadOnlyList<LoraAdapter> deltas, double maxError = 0.01, string? baseModel = null)
    {
        if (!(maxError >= 0) || !double.IsFinite(maxError))
            throw new ArgumentException($"the error bound must be finite and non-negative, got {maxError}", nameof(maxError));
        var spectra = DeltaHistory.Columns(deltas).Select(column => (column[0].Name, Values: ModuleSpectrum.SingularValues(column))).ToList();
        (double Error, string Module) Worst(int r) => spectra.Select(s => (ModuleSpectrum.RelativeError(s.Values, r), s.Name)).MaxBy(e => e.Item1);

        int exact = spectra.Max(s => s.Values.Length);
        int? chosen = VllmRanks.Allowed.Cast<int?>().FirstOrDefault(r => Worst(r!.Value).Error <= maxError);
        if (exact <= VllmRanks.Largest && (chosen is null || exact < chosen)) chosen = exact;
        if (chosen is not { } rank)
        {
            var (error, module) = Worst(VllmRanks.Largest);
            throw new ExportBoundException(maxError, error, module);
        }
        return Truncate(deltas, rank, "vllm", maxError, baseModel);
    }

    static (LoraAdapter, ExportReport) Truncate(IReadOnlyList<LoraAdapter> deltas, int rank, string mode, double? bound, string? baseModel)
    {
        var reports = new List<ModuleExportReport>();
        var adapter = Build(DeltaHistory.Columns(deltas), column =>
        {
            // One module's stack, QRs and SVD live only inside this call: peak memory is the largest module's.
            using var spectrum = ModuleSpectrum.Compute(column);
            var module = spectrum.Truncate(rank, float32);
            reports.Add(new ModuleExportReport(spectrum.Name, module.OutFeatures, module.InFeatures, spectrum.StackedRank, module.Rank,
                ModuleSpectrum.RetainedEnergy(spectrum.Values, module.Rank), ModuleSpectrum.RelativeError(spectrum.Values, module.Rank),
                spectrum.Dense ? "dense" : "factored"));
            return module;
        }, BaseModel(deltas, baseModel));
        return (adapter, ExportReport.Create(mode, rank, bound, deltas, reports));
    }

    /// <summary>Builds the modules in order; on a failure, whatever was built is disposed.</summary>
    static LoraAdapter Build(IReadOnlyList<LoraModule[]> columns, Func<LoraModule[], LoraModule> build, string? baseModel)
    {
        var modules = new List<LoraModule>(columns.Count);
        try
        {
            foreach (var column in columns) modules.Add(build(column));
            return new LoraAdapter(modules, baseModel);
        }
        catch
        {
            foreach (var m in modules) m.Dispose();
            throw;
        }
    }

    /// <summary>The given name, else the latest delta's.</summary>
    static string? BaseModel(IReadOnlyList<LoraAdapter> deltas, string? baseModel) =>
        baseModel ?? deltas.Select(d => d.BaseModel).LastOrDefault(b => b is not null);

    static double[] Ones(int count) => Enumerable.Repeat(1.0, count).ToArray();
}
