using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Robust;

/// <summary>
/// One module's K updates as float32 factors on the host, producing blocks of their dense deltas dW_k = s_k B_k A_k on
/// demand (rows x 16 columns for every k) instead of K whole d_out x d_in matrices. An entry is the float32 FMA chain
/// sum_p B_k[i, p] A_k[p, j] over p in order, times (float) s_k: what libtorch's matmul followed by the scale computes on
/// this CPU, bit for bit (a test holds it to that). Owns the converted copies it made; the factors must outlive it.
/// </summary>
sealed unsafe class ModuleDeltas : IDisposable
{
    /// <summary>Lanes per block column: one Vector512 of float32.</summary>
    public const int Lanes = 16;

    readonly List<Tensor> _copies = [];
    readonly nint[] _a, _b;
    readonly int[] _ranks;
    readonly float[] _scales;

    /// <param name="scan">Each update's factors are scanned as they are taken in.</param>
    public ModuleDeltas(IReadOnlyList<LoraModule> column, ColumnScan scan = default)
    {
        Count = column.Count;
        OutFeatures = column[0].OutFeatures;
        InFeatures = column[0].InFeatures;
        _a = new nint[Count];
        _b = new nint[Count];
        _ranks = new int[Count];
        _scales = new float[Count];
        try
        {
            for (int k = 0; k < Count; k++)
            {
                var m = column[k];
                scan.Visit(k, m);
                _a[k] = Address(m.A);
                _b[k] = Address(m.B);
                _ranks[k] = m.Rank;
                // libtorch multiplies a float32 tensor by a double scalar in float32.
                _scales[k] = (float)m.Scale;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Count { get; }
    public int OutFeatures { get; }
    public int InFeatures { get; }

    /// <summary>
    /// <paramref name="values"/>[r * Count + k] = dW_k[first + r, column .. column + 16) for r &lt; rows; lanes past d_in are 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Block(int first, int rows, int column, Span<Vector512<float>> values)
    {
        int width = Math.Min(Lanes, InFeatures - column);
        int maxRank = 0;
        foreach (int r in _ranks) maxRank = Math.Max(maxRank, r);
        Span<Vector512<float>> a = maxRank <= 256 ? stackalloc Vector512<float>[maxRank] : new Vector512<float>[maxRank];
        Span<float> partial = stackalloc float[Lanes];
        for (int k = 0; k < Count; k++)
        {
            int rank = _ranks[k];
            float* aRows = (float*)_a[k] + column;
            for (int p = 0; p < rank; p++)
            {
                float* from = aRows + (long)p * InFeatures;
                if (width == Lanes) a[p] = Vector512.Load(from);
                else
                {
                    partial.Clear();
                    new ReadOnlySpan<float>(from, width).CopyTo(partial);
                    a[p] = Vector512.Create<float>(partial);
                }
            }
            var scale = Vector512.Create(_scales[k]);
            float* bRow = (float*)_b[k] + (long)first * rank;
            int r = 0;
            // Four rows at once: each entry is its own chain of rank FMAs, and four chains in flight hide the FMA latency.
            for (; r + 4 <= rows; r += 4, bRow += 4 * rank)
            {
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int p = 0; p < rank; p++)
                {
                    var ap = a[p];
                    s0 = Vector512.FusedMultiplyAdd(Vector512.Create(bRow[p]), ap, s0);
                    s1 = Vector512.FusedMultiplyAdd(Vector512.Create(bRow[rank + p]), ap, s1);
                    s2 = Vector512.FusedMultiplyAdd(Vector512.Create(bRow[2 * rank + p]), ap, s2);
                    s3 = Vector512.FusedMultiplyAdd(Vector512.Create(bRow[3 * rank + p]), ap, s3);
                }
                values[r * Count + k] = s0 * scale;
                values[(r + 1) * Count + k] = s1 * scale;
                values[(r + 2) * Count + k] = s2 * scale;
                values[(r + 3) * Count + k] = s3 * scale;
            }
            for (; r < rows; r++, bRow += rank)
            {
                var sum = Vector512<float>.Zero;
                for (int p = 0; p < rank; p++)
                    sum = Vector512.FusedMultiplyAdd(Vector512.Create(bRow[p]), a[p], sum);
                values[r * Count + k] = sum * scale;
            }
        }
    }

    /// <summary>The factor's float32 values on the host: its own storage when it is that already, else a copy kept until disposal.</summary>
    nint Address(Tensor factor)
    {
        var t = factor;
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous() || t.device_type != DeviceType.CPU)
        {
            t = factor.to(ScalarType.Float32, CPU).contiguous();
            _copies.Add(t);
        }
        // libtorch storage is native memory the GC never moves: its address stays valid while the tensor lives.
        return (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<byte, float>(t.bytes)));
    }

    public void Dispose()
    {
        foreach (var t in _copies) t.Dispose();
        _copies.Clear();
    }
}
