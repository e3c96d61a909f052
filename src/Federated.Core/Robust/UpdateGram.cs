using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>
/// The Gram matrix of K updates in weight space, G_ij = sum over modules of &lt;dW_i, dW_j&gt;_F, from the
/// factors alone (ALGORITHMS.md B1): with the module's stack A_st (row block k = s_k A_k) and
/// B_st = [B_1 .. B_K], &lt;dW_i, dW_j&gt; = tr((B_i^T B_j)(A_j A_i^T)) is the sum over block (i, j) of
/// (B_st^T B_st) o (A_st A_st^T). Two R x R GEMMs per module (R = sum r_k), never d_out x d_in, for any
/// mix of ranks and alphas. Every distance or inner-product rule needs only this matrix.
/// </summary>
public sealed class UpdateGram
{
    readonly double[,] _g;

    public UpdateGram(double[,] gram)
    {
        if (gram.GetLength(0) != gram.GetLength(1))
            throw new ArgumentException("a Gram matrix is square");
        _g = gram;
    }

    public int Count => _g.GetLength(0);
    public double this[int i, int j] => _g[i, j];

    /// <summary>Stacked rows per tile of the R x R products: 2,048 keep a tile at 16 MB, whatever K (at K = 1,000 of rank 16 the whole product would be 1 GB).</summary>
    public const int DefaultTileRows = 2048;

    /// <param name="dtype">GEMM precision; float32 (default) keeps the BLAS fast, sums are kept in float64.</param>
    /// <param name="scan">Filled with each update's checks and norms while its factors are stacked (updates beyond its count are not scanned).</param>
    /// <param name="tileRows">
    /// The most stacked rows a tile of the products spans: clients are grouped so that each group's ranks sum to at most this
    /// (a client of larger rank is a group alone), and the blocks (group i, group j >= i) are computed one at a time.
    /// </param>
    public static UpdateGram Compute(IReadOnlyList<LoraAdapter> updates, ScalarType dtype = ScalarType.Float32, UpdateScan? scan = null, int tileRows = DefaultTileRows)
    {
        if (updates.Count == 0) throw new ArgumentException("no updates");
        int n = updates.Count;
        var gram = new double[n, n];
        var ones = Enumerable.Repeat(1.0, n).ToArray();
        using var _ = no_grad();
        var columns = ModuleAlignment.Align(updates);
        for (int c = 0; c < columns.Count; c++)
        {
            var column = columns[c];
            using var scope = NewDisposeScope();
            var (a, b) = FloraStacking.StackFactors(column, ones, dtype, FactorKernels.For(column), scan?.Column(c) ?? default);
            var groups = Groups(column, tileRows);
            foreach (var gi in groups)
                foreach (var gj in groups.Where(g => g.First >= gi.First))
                {
                    using var tile = NewDisposeScope();
                    // A_st A_st^T is symmetric, so the block (j, i) it contributes equals block (i, j) transposed.
                    var bi = b.narrow(1, gi.Row, gi.Rows);
                    var ai = a.narrow(0, gi.Row, gi.Rows);
                    var products = gi.First == gj.First
                        ? bi.t().matmul(bi).mul_(ai.matmul(ai.t()))
                        : bi.t().matmul(b.narrow(1, gj.Row, gj.Rows)).mul_(ai.matmul(a.narrow(0, gj.Row, gj.Rows).t()));
                    var block = BlockIndicator(column[gi.First..gi.End], dtype, a.device).t().matmul(products)
                        .matmul(BlockIndicator(column[gj.First..gj.End], dtype, a.device)).to(float64).cpu();
                    var values = block.data<double>().ToArray();
                    int width = gj.End - gj.First;
                    for (int i = gi.First; i < gi.End; i++)
                        for (int j = gj.First; j < gj.End; j++)
                        {
                            double v = values[(i - gi.First) * width + (j - gj.First)];
                            gram[i, j] += v;
                            if (gi.First != gj.First) gram[j, i] += v;
                        }
                }
        }
        return new UpdateGram(gram);
    }

    /// <summary>Consecutive clients [First, End) whose stacked rows [Row, Row + Rows) number at most <paramref name="tileRows"/> (or one client).</summary>
    static List<(int First, int End, int Row, int Rows)> Groups(LoraModule[] column, int tileRows)
    {
        var groups = new List<(int First, int End, int Row, int Rows)>();
        int first = 0, row = 0, rows = 0;
        for (int k = 0; k < column.Length; k++)
        {
            if (k > first && rows + column[k].Rank > tileRows)
            {
                groups.Add((first, k, row, rows));
                (first, row, rows) = (k, row + rows, 0);
            }
            rows += column[k].Rank;
        }
        groups.Add((first, column.Length, row, rows));
        return groups;
    }

    /// <summary>P (R x K) with P[row, k] = 1 when stacked row belongs to client k, so P^T H P sums H's blocks.</summary>
    static Tensor BlockIndicator(LoraModule[] column, ScalarType dtype, Device device)
    {
        var owner = new long[column.Sum(m => m.Rank)];
        for (int k = 0, row = 0; k < column.Length; k++)
            for (int r = 0; r < column[k].Rank; r++) owner[row++] = k;
        using var index = tensor(owner, device: device);
        return nn.functional.one_hot(index, column.Length).to(dtype);
    }

    public double SquaredNorm(int i) => _g[i, i];

    public double SquaredDistance(int i, int j) => Math.Max(0, _g[i, i] + _g[j, j] - 2 * _g[i, j]);

    /// <summary>||x_i - sum_k c_k x_k||^2 = G_ii - 2 (G c)_i + c^T G c.</summary>
    public double SquaredDistanceTo(int i, IReadOnlyList<double> c) =>
        Math.Max(0, _g[i, i] - 2 * Row(i, c) + SquaredNorm(c));

    /// <summary>||sum_k c_k x_k||^2 = c^T G c.</summary>
    public double SquaredNorm(IReadOnlyList<double> c)
    {
        double total = 0;
        for (int i = 0; i < Count; i++) total += c[i] * Row(i, c);
        return Math.Max(0, total);
    }

    /// <summary>(G c)_i = &lt;x_i, sum_k c_k x_k&gt;.</summary>
    public double Row(int i, IReadOnlyList<double> c)
    {
        double total = 0;
        for (int k = 0; k < Count; k++) total += _g[i, k] * c[k];
        return total;
    }

    /// <summary>The Gram of a subset of the updates, in the given order.</summary>
    public UpdateGram Select(IReadOnlyList<int> indices)
    {
        var g = new double[indices.Count, indices.Count];
        for (int i = 0; i < indices.Count; i++)
            for (int j = 0; j < indices.Count; j++)
                g[i, j] = _g[indices[i], indices[j]];
        return new UpdateGram(g);
    }
}
