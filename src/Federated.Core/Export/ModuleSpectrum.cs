using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Export;

/// <summary>
/// The SVD dW = L diag(S) Rt of one module's cumulative update (the sum over the deltas that have it), in float64.
/// From the factors while the stacked rank R is below min(d_out, d_in) (the FLoRIST form: B_st = Q_B R_B and
/// A_st^T = Q_A R_A give dW = Q_B (R_B R_A^T) Q_A^T, and the R x R core's SVD U S V^T gives L = Q_B U, Rt = V^T Q_A^T);
/// from the dense dW once R reaches min(d_out, d_in), where the QRs would cost more than forming it.
/// Owns its tensors; built for one module at a time, so a history's export holds one module's work at once.
/// </summary>
sealed class ModuleSpectrum : IDisposable
{
    readonly Tensor _left, _right;

    ModuleSpectrum(string name, int stackedRank, bool dense, Tensor left, double[] values, Tensor right)
    {
        Name = name;
        StackedRank = stackedRank;
        Dense = dense;
        _left = left;
        Values = values;
        _right = right;
    }

    public string Name { get; }
    public int StackedRank { get; }

    /// <summary>Whether the dense dW was decomposed (R at least min(d_out, d_in)) rather than the factors.</summary>
    public bool Dense { get; }

    /// <summary>Singular values, descending: min(R, d_out, d_in) of them.</summary>
    public double[] Values { get; }

    public static ModuleSpectrum Compute(LoraModule[] column) => Decompose(column, valuesOnly: false);

    /// <summary>Only the singular values (no L, Rt): what choosing a rank needs.</summary>
    public static double[] SingularValues(LoraModule[] column)
    {
        using var spectrum = Decompose(column, valuesOnly: true);
        return spectrum.Values;
    }

    /// <summary>The best rank-<paramref name="rank"/> approximation as a module at scale 1 (B = L S, A = Rt, alpha = rank).</summary>
    public LoraModule Truncate(int rank, ScalarType dtype)
    {
        int kept = Math.Min(rank, Values.Length);
        using var scope = NewDisposeScope();
        var s = tensor(Values.AsSpan(0, kept).ToArray(), float64);
        var b = (_left.narrow(1, 0, kept) * s).to(dtype).contiguous();
        var a = _right.narrow(0, 0, kept).to(dtype).contiguous();
        return new LoraModule(Name, a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), alpha: kept);
    }

    /// <summary>sum_{i&lt;r} s_i^2 / sum s_i^2; 1 for a zero update.</summary>
    public static double RetainedEnergy(double[] values, int rank)
    {
        var (head, tail) = Split(values, rank);
        return head + tail == 0 ? 1 : head / (head + tail);
    }

    /// <summary>||dW - dW_r||_F / ||dW||_F = sqrt(sum_{i&gt;=r} s_i^2 / sum s_i^2); 0 for a zero update.</summary>
    public static double RelativeError(double[] values, int rank)
    {
        var (head, tail) = Split(values, rank);
        return head + tail == 0 ? 0 : Math.Sqrt(tail / (head + tail));
    }

    static (double Head, double Tail) Split(double[] values, int rank)
    {
        double head = 0, tail = 0;
        for (int i = 0; i < values.Length; i++)
            if (i < rank) head += values[i] * values[i];
            else tail += values[i] * values[i];
        return (head, tail);
    }

    static ModuleSpectrum Decompose(LoraModule[] column, bool valuesOnly)
    {
        var first = column[0];
        int stackedRank = column.Sum(m => m.Rank);
        bool dense = stackedRank >= Math.Min(first.InFeatures, first.OutFeatures);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (a, b) = FloraStacking.StackFactors(column, Enumerable.Repeat(1.0, column.Length).ToArray(), float64, FactorKernels.For(column));
        Tensor left, values, right;
        if (dense)
        {
            var delta = b.matmul(a);
            if (valuesOnly) (left, values, right) = (empty(0), linalg.svdvals(delta), empty(0));
            else (left, values, right) = linalg.svd(delta, fullMatrices: false);
        }
        else
        {
            var (qb, rb) = linalg.qr(b);
            var (qa, ra) = linalg.qr(a.t());
            var core = rb.matmul(ra.t());
            if (valuesOnly) (left, values, right) = (empty(0), linalg.svdvals(core), empty(0));
            else
            {
                var (u, s, vh) = linalg.svd(core, fullMatrices: false);
                (left, values, right) = (qb.matmul(u), s, vh.matmul(qa.t()));
            }
        }
        return new ModuleSpectrum(first.Name, stackedRank, dense, left.contiguous().MoveToOuterDisposeScope(),
            values.data<double>().ToArray(), right.contiguous().MoveToOuterDisposeScope());
    }

    public void Dispose()
    {
        _left.Dispose();
        _right.Dispose();
    }
}
