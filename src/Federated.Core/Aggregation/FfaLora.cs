using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Aggregation;

/// <summary>
/// FFA-LoRA (ALGORITHMS.md A3): A is random, frozen and shared (same seed), only B is trained, so
/// averaging B is exact: B_g = sum c_k (s_k / s_g) B_k. Mixed ranks: client k uses the first r_k rows
/// of the shared A, and its B is zero-padded. Every client's A must be that prefix, bit for bit.
/// </summary>
public sealed class FfaLora(ScalarType? outputDType = null) : IAggregationStrategy
{
    public string Name => "ffa";
    public bool IsExact => true;

    public LoraAdapter Aggregate(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<double> coefficients, UpdateScan? scan = null)
    {
        ClientWeights.Validate(updates, coefficients);
        var dtype = outputDType ?? FactorAveraging.CommonDType(updates);
        return ModuleAlignment.Combine(updates, scan, (column, columnScan) =>
        {
            var shared = column.MaxBy(m => m.Rank)!;
            for (int k = 0; k < column.Length; k++)
            {
                columnScan.Visit(k, column[k]);
                using var check = NewDisposeScope();
                var prefix = shared.A.narrow(0, 0, column[k].Rank);
                if (column[k].A.dtype != shared.A.dtype || !column[k].A.eq(prefix).all().item<bool>())
                    throw new IncompatibleAdaptersException(
                        $"ffa needs one frozen shared A, but update {k}'s A for module '{shared.Name}' is not the first {column[k].Rank} rows of the shared A");
            }
            var kernels = FactorKernels.For(column);
            var b = zeros(shared.OutFeatures, shared.Rank, float32, shared.B.device);
            for (int k = 0; k < column.Length; k++)
                kernels.ColumnBlock(column[k].B, b, 0, coefficients[k] * column[k].Scale / shared.Scale, accumulate: true);
            return shared.With(shared.A.to(dtype).clone(), FactorAveraging.Into(b, dtype), shared.Alpha);
        });
    }
}
