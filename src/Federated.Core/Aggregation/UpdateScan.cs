using System.Runtime.InteropServices;
using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Federated.Core.Aggregation;

/// <summary>What one read of a module's factors tells: whether every value is finite, and ||s B A||_F^2 (NaN when not finite).</summary>
public readonly record struct FactorCheck(bool Finite, double SquaredNorm);

/// <summary>
/// The checks and norms of a round's updates, gathered while a strategy or the Gram reads each client's factors for its
/// own work, so the bytes come from memory once (a module's factors are tens of KB: they are still in cache when the
/// strategy copies or accumulates them right after the scan). One entry per (module, client), modules in the order the
/// aggregation aligns them (the first update's); modules may be scanned in parallel, each by one thread.
/// </summary>
public sealed class UpdateScan
{
    readonly FactorCheck?[,] _checks;
    readonly Dictionary<string, int> _modules;

    /// <param name="modules">Module names in the order of the columns the aggregation builds.</param>
    public UpdateScan(IReadOnlyList<string> modules, int clients)
    {
        _checks = new FactorCheck?[modules.Count, clients];
        _modules = modules.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        Clients = clients;
    }

    /// <summary>One update scanned on its own, module by module (a check outside an aggregation).</summary>
    public static UpdateScan Of(LoraAdapter update)
    {
        var scan = new UpdateScan(update.Modules.Select(m => m.Name).ToList(), 1);
        scan.Complete(0, update);
        return scan;
    }

    public int Clients { get; }

    /// <summary>The scan of one module's column (module <paramref name="module"/> in the aligned order).</summary>
    public ColumnScan Column(int module) => new(this, module);

    internal void Record(int module, int client, FactorCheck check) => _checks[module, client] = check;

    /// <summary>Scans whatever modules of <paramref name="client"/> the aggregation did not read (a left-out update, a rule that stopped early).</summary>
    public void Complete(int client, LoraAdapter update)
    {
        foreach (var m in update.Modules)
            if (_modules.TryGetValue(m.Name, out int i) && _checks[i, client] is null)
                _checks[i, client] = FactorScan.Scan(m);
    }

    /// <summary>The first module, in the update's own order, holding a NaN or an infinity; null when all are finite.</summary>
    public string? FirstNonFinite(int client, LoraAdapter update) =>
        update.Modules.FirstOrDefault(m => Check(client, m.Name) is not { Finite: true })?.Name;

    /// <summary>||dW||_F of the whole update: the square root of the sum over modules of ||s B A||_F^2.</summary>
    public double Norm(int client)
    {
        double total = 0;
        for (int m = 0; m < _checks.GetLength(0); m++) total += _checks[m, client]?.SquaredNorm ?? double.NaN;
        return Math.Sqrt(total);
    }

    FactorCheck? Check(int client, string module) => _modules.TryGetValue(module, out int i) ? _checks[i, client] : null;
}

/// <summary>One module's share of an <see cref="UpdateScan"/>; the default (no scan) does nothing.</summary>
public readonly struct ColumnScan(UpdateScan? owner, int module, int[]? clients = null)
{
    /// <summary>
    /// Scans position <paramref name="position"/>'s factors of this module; call it right before reading them. Positions
    /// past the scan's clients (a reference update stacked after them) are not scanned.
    /// </summary>
    public void Visit(int position, LoraModule factors)
    {
        if (owner is null) return;
        int client = clients is null ? position : clients[position];
        if (client < owner.Clients) owner.Record(module, client, FactorScan.Scan(factors));
    }

    /// <summary>The same scan over a subset of the column: position j is client <paramref name="subset"/>[j].</summary>
    public ColumnScan Of(int[] subset)
    {
        if (clients is null) return new(owner, module, subset);
        var mapped = new int[subset.Length];
        for (int j = 0; j < subset.Length; j++) mapped[j] = clients[subset[j]];
        return new(owner, module, mapped);
    }
}

/// <summary>
/// Finiteness and ||s B A||_F^2 = s^2 tr((B^T B)(A A^T)) of one module from its factors, in O((d_in + d_out) r^2) and
/// never forming d_out x d_in. CPU factors go through spans: the r x r Grams are r(r+1)/2 vectorised dot products of A's
/// rows and of B's columns (B transposed once into a per-thread buffer), accumulated in float32 per dot and summed in
/// float64 (relative error about 1e-6 against a float64 computation); each TorchSharp call would cost more than the work.
/// </summary>
public static class FactorScan
{
    [ThreadStatic] static float[]? t_transposed;
    [ThreadStatic] static double[]? t_grams;

    public static FactorCheck Scan(LoraModule module)
    {
        if (module.A.device_type != DeviceType.CPU || module.B.device_type != DeviceType.CPU)
            return ScanOnDevice(module);
        using var a32 = Float32(module.A, out var a);
        using var b32 = Float32(module.B, out var b);
        if (!TensorPrimitives.IsFiniteAll(a) || !TensorPrimitives.IsFiniteAll(b)) return new(false, double.NaN);
        return new(true, module.Scale * module.Scale * Math.Max(0, Trace(a, b, module.Rank, module.InFeatures, module.OutFeatures)));
    }

    /// <summary>tr((B^T B)(A A^T)) = sum_pq (A A^T)_pq (B^T B)_pq, both symmetric: the diagonal once, the upper triangle twice.</summary>
    static double Trace(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int rank, int inFeatures, int outFeatures)
    {
        var transposed = Buffer(ref t_transposed, rank * outFeatures);
        for (int i = 0; i < outFeatures; i++)
        {
            var row = b.Slice(i * rank, rank);
            for (int p = 0; p < rank; p++) transposed[p * outFeatures + i] = row[p];
        }
        var grams = Buffer(ref t_grams, rank * rank);
        for (int p = 0; p < rank; p++)
        {
            var ap = a.Slice(p * inFeatures, inFeatures);
            for (int q = p; q < rank; q++)
                grams[p * rank + q] = TensorPrimitives.Dot(ap, a.Slice(q * inFeatures, inFeatures));
        }
        var columns = transposed.AsSpan(0, rank * outFeatures);
        double trace = 0;
        for (int p = 0; p < rank; p++)
        {
            var bp = columns.Slice(p * outFeatures, outFeatures);
            for (int q = p; q < rank; q++)
            {
                double product = grams[p * rank + q] * (double)TensorPrimitives.Dot(bp, columns.Slice(q * outFeatures, outFeatures));
                trace += p == q ? product : 2 * product;
            }
        }
        return trace;
    }

    static T[] Buffer<T>(ref T[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new T[Math.Max(length, 1024)];
        return buffer;
    }

    static FactorCheck ScanOnDevice(LoraModule module)
    {
        using var scope = NewDisposeScope();
        if (!module.A.isfinite().all().item<bool>() || !module.B.isfinite().all().item<bool>()) return new(false, double.NaN);
        double norm = LoraNorms.Frobenius(module);
        return new(true, norm * norm);
    }

    /// <summary>The tensor's values as float32: its own storage when contiguous float32 (returns null), else a converted copy to dispose.</summary>
    static Tensor? Float32(Tensor t, out ReadOnlySpan<float> values)
    {
        if (t.dtype == ScalarType.Float32 && t.is_contiguous())
        {
            values = MemoryMarshal.Cast<byte, float>(t.bytes);
            return null;
        }
        var copy = t.to(ScalarType.Float32).contiguous();
        values = MemoryMarshal.Cast<byte, float>(copy.bytes);
        return copy;
    }
}
