using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Federated.Core.Aggregation;
using Federated.Core.Runtime;

namespace Federated.Core.Robust;

/// <summary>
/// Randomized subspace iteration for one dense matrix D (m x n, float32, row-major), in float64 on .NET threads: thin
/// products D X and D^T Q (k columns, padded to whole Vector512 of doubles), classical Gram-Schmidt applied twice for the
/// orthonormal bases, and a cyclic Jacobi eigensolver for the k x k Gram of Q^T D. See <see cref="DenseFactoring"/>.
/// </summary>
static class Sketch
{
    const int Lanes = 8;

    /// <returns>B (m x r, orthonormal columns) and A = B^T D (r x n) as float32 row-major, and ||D - B A||_F / ||D||_F.</returns>
    public static (float[] B, float[] A, double RelativeError) Truncate(ReadOnlySpan<float> d, int m, int n, int r, int k, int powerIterations, int seed)
    {
        int width = (k + Lanes - 1) / Lanes * Lanes;
        var dense = d.ToArray(); // the workers below index it from lambdas
        var random = new Random(seed);
        var omega = new double[n * width];
        for (int j = 0; j < n; j++)
            for (int c = 0; c < k; c++) omega[j * width + c] = Normal(random);

        var q = Orthonormal(Times(dense, m, n, omega, width), m, k, width);
        for (int i = 0; i < powerIterations; i++)
            q = Orthonormal(Times(dense, m, n, Orthonormal(TransposeTimes(dense, m, n, q, width), n, k, width), width), m, k, width);
        var z = TransposeTimes(dense, m, n, q, width); // (Q^T D)^T: n x k

        var gram = new double[k * k];
        for (int j = 0; j < n; j++)
            for (int a = 0; a < k; a++)
                for (int b = a; b < k; b++) gram[a * k + b] += z[j * width + a] * z[j * width + b];
        for (int a = 0; a < k; a++)
            for (int b = 0; b < a; b++) gram[a * k + b] = gram[b * k + a];
        var u = Eigenvectors(gram, k); // columns by descending eigenvalue

        var factorB = new float[m * r];
        for (int i = 0; i < m; i++)
            for (int t = 0; t < r; t++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++) sum += q[i * width + p] * u[p * k + t];
                factorB[i * r + t] = (float)sum;
            }
        var factorA = new float[r * n];
        double kept = 0;
        for (int t = 0; t < r; t++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++) sum += u[p * k + t] * z[j * width + p];
                factorA[t * n + j] = (float)sum;
                kept += sum * sum;
            }
        double total = 0;
        foreach (float x in dense) total += (double)x * x;
        return (factorB, factorA, total == 0 ? 0 : Math.Sqrt(Math.Max(0, total - kept) / total));
    }

    static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>D X: (m x n)(n x width) -> m x width, rows in parallel.</summary>
    static double[] Times(float[] d, int m, int n, double[] x, int width)
    {
        var y = new double[m * width];
        Parallel.For(0, m, CoreWorkers.Bounded, i =>
        {
            var row = y.AsSpan(i * width, width);
            for (int j = 0; j < n; j++) AddScaled(row, d[i * n + j], x.AsSpan(j * width, width));
        });
        return y;
    }

    /// <summary>D^T Q: (n x m)(m x width) -> n x width, output rows split among the workers.</summary>
    static double[] TransposeTimes(float[] d, int m, int n, double[] q, int width)
    {
        var z = new double[n * width];
        int chunk = Math.Max(16, (n + 4 * Environment.ProcessorCount - 1) / (4 * Environment.ProcessorCount));
        Parallel.For(0, (n + chunk - 1) / chunk, CoreWorkers.Bounded, part =>
        {
            int first = part * chunk, last = Math.Min(n, first + chunk);
            for (int i = 0; i < m; i++)
            {
                var qi = q.AsSpan(i * width, width);
                for (int j = first; j < last; j++) AddScaled(z.AsSpan(j * width, width), d[i * n + j], qi);
            }
        });
        return z;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void AddScaled(Span<double> to, double scale, ReadOnlySpan<double> from)
    {
        var s = Vector512.Create(scale);
        for (int c = 0; c < to.Length; c += Lanes)
            Vector512.FusedMultiplyAdd(s, Vector512.Create(from.Slice(c, Lanes)), Vector512.Create<double>(to.Slice(c, Lanes))).CopyTo(to.Slice(c, Lanes));
    }

    /// <summary>
    /// The first k columns of y (rows x width) made orthonormal in place, classical Gram-Schmidt twice per column; a column
    /// that vanishes (y of lower rank than k) becomes zero and is skipped by the later ones.
    /// </summary>
    static double[] Orthonormal(double[] y, int rows, int k, int width)
    {
        var dots = new double[width];
        for (int c = 0; c < k; c++)
        {
            double before = ColumnNorm(y, rows, c, width);
            // Rows are contiguous: the dots with the earlier columns, and the correction, run along each row in vectors.
            int span = (c + Lanes - 1) / Lanes * Lanes;
            for (int pass = 0; pass < 2 && c > 0; pass++)
            {
                Array.Clear(dots);
                for (int i = 0; i < rows; i++)
                    AddScaled(dots.AsSpan(0, span), y[i * width + c], y.AsSpan(i * width, span));
                Array.Clear(dots, c, dots.Length - c);
                for (int i = 0; i < rows; i++)
                    y[i * width + c] -= Dot(y.AsSpan(i * width, span), dots.AsSpan(0, span));
            }
            double norm = ColumnNorm(y, rows, c, width);
            double scale = norm > 1e-12 * before && norm > 0 ? 1 / norm : 0;
            for (int i = 0; i < rows; i++) y[i * width + c] *= scale;
        }
        return y;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var sum = Vector512<double>.Zero;
        for (int c = 0; c < x.Length; c += Lanes)
            sum = Vector512.FusedMultiplyAdd(Vector512.Create(x.Slice(c, Lanes)), Vector512.Create(y.Slice(c, Lanes)), sum);
        return Vector512.Sum(sum);
    }

    static double ColumnNorm(double[] y, int rows, int c, int width)
    {
        double sum = 0;
        for (int i = 0; i < rows; i++) sum += y[i * width + c] * y[i * width + c];
        return Math.Sqrt(sum);
    }

    /// <summary>Cyclic Jacobi on a symmetric k x k matrix (overwritten): its eigenvectors as columns, by descending eigenvalue.</summary>
    static double[] Eigenvectors(double[] g, int k)
    {
        var v = new double[k * k];
        for (int i = 0; i < k; i++) v[i * k + i] = 1;
        for (int sweep = 0; sweep < 60; sweep++)
        {
            double off = 0, diagonal = 0;
            for (int p = 0; p < k; p++)
            {
                diagonal += g[p * k + p] * g[p * k + p];
                for (int q = p + 1; q < k; q++) off += g[p * k + q] * g[p * k + q];
            }
            if (off <= 1e-30 * diagonal || off == 0) break;
            for (int p = 0; p < k; p++)
                for (int q = p + 1; q < k; q++)
                {
                    double gpq = g[p * k + q];
                    if (gpq == 0) continue;
                    double theta = (g[q * k + q] - g[p * k + p]) / (2 * gpq);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int i = 0; i < k; i++)
                    {
                        double gip = g[i * k + p], giq = g[i * k + q];
                        g[i * k + p] = c * gip - s * giq;
                        g[i * k + q] = s * gip + c * giq;
                    }
                    for (int i = 0; i < k; i++)
                    {
                        double gpi = g[p * k + i], gqi = g[q * k + i];
                        g[p * k + i] = c * gpi - s * gqi;
                        g[q * k + i] = s * gpi + c * gqi;
                    }
                    for (int i = 0; i < k; i++)
                    {
                        double vip = v[i * k + p], viq = v[i * k + q];
                        v[i * k + p] = c * vip - s * viq;
                        v[i * k + q] = s * vip + c * viq;
                    }
                }
        }
        var order = Enumerable.Range(0, k).OrderByDescending(i => g[i * k + i]).ToArray();
        var sorted = new double[k * k];
        for (int i = 0; i < k; i++)
            for (int c = 0; c < k; c++) sorted[i * k + c] = v[i * k + order[c]];
        return sorted;
    }
}
