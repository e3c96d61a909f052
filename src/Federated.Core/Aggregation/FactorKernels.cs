using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Federated.Core.Adapters;
using TorchSharp;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Federated.Core.Aggregation;

/// <summary>
/// The block operations every strategy is built from, writing client factors into a global factor:
/// rows blocks of A (r x d_in inside R x d_in) and column blocks of B (d_out x r inside d_out x R).
/// Sources are any floating dtype; destinations are float32 or float64 tensors the caller allocated.
/// </summary>
abstract class FactorKernels
{
    /// <summary>Host kernels for CPU tensors, TorchSharp operations for tensors on an accelerator.</summary>
    public static FactorKernels For(IEnumerable<LoraModule> column) =>
        column.All(m => m.OnHost) ? Host.Instance : Torch.Instance;

    /// <summary>dst[offset .. offset + r, :] = scale * src  (or += when <paramref name="accumulate"/>).</summary>
    public abstract void RowBlock(Tensor src, Tensor dst, int offset, double scale, bool accumulate);

    /// <summary>dst[:, offset .. offset + r] = scale * src  (or += when <paramref name="accumulate"/>).</summary>
    public abstract void ColumnBlock(Tensor src, Tensor dst, int offset, double scale, bool accumulate);

    /// <summary>[src_1, ..., src_K] side by side (d_out x sum r_k), in <paramref name="dtype"/> (float32 or float64).</summary>
    public abstract Tensor ConcatColumns(IReadOnlyList<Tensor> sources, ScalarType dtype);

    /// <summary>
    /// One pass over CPU memory through spans. LoRA factors are small and numerous (96 modules x K
    /// clients for a 0.5B model), and each TorchSharp operation costs microseconds of dispatch and
    /// handle churn, more than moving a block's bytes; here a block costs a span slice.
    /// </summary>
    internal sealed class Host : FactorKernels
    {
        public static readonly Host Instance = new();

        public override void RowBlock(Tensor src, Tensor dst, int offset, double scale, bool accumulate)
        {
            using var converted = Float32(src, out var from);
            int width = (int)dst.size(1);
            if (dst.dtype == ScalarType.Float64)
                Apply(from, Doubles(dst).Slice(offset * width, from.Length), scale, accumulate);
            else
                Apply(from, Floats(dst).Slice(offset * width, from.Length), (float)scale, accumulate);
        }

        public override void ColumnBlock(Tensor src, Tensor dst, int offset, double scale, bool accumulate)
        {
            using var converted = Float32(src, out var from);
            int rows = (int)dst.size(0), width = (int)dst.size(1), r = from.Length / rows;
            if (dst.dtype == ScalarType.Float64)
            {
                var to = Doubles(dst);
                for (int i = 0; i < rows; i++)
                    Apply(from.Slice(i * r, r), to.Slice(i * width + offset, r), scale, accumulate);
            }
            else if (r == width)
            {
                Apply(from, Floats(dst), (float)scale, accumulate);
            }
            else
            {
                var to = Floats(dst);
                for (int i = 0; i < rows; i++)
                    Apply(from.Slice(i * r, r), to.Slice(i * width + offset, r), (float)scale, accumulate);
            }
        }

        public override Tensor ConcatColumns(IReadOnlyList<Tensor> sources, ScalarType dtype)
        {
            int rows = (int)sources[0].size(0);
            var widths = sources.Select(t => (int)t.size(1)).ToArray();
            var dst = empty(rows, widths.Sum(), dtype);
            if (dtype != ScalarType.Float32)
            {
                for (int k = 0, offset = 0; k < sources.Count; offset += widths[k++])
                    ColumnBlock(sources[k], dst, offset, 1.0, accumulate: false);
                return dst;
            }
            var converted = new Tensor?[sources.Count];
            try
            {
                var rowsOf = new nint[sources.Count];
                for (int k = 0; k < sources.Count; k++)
                {
                    converted[k] = Float32(sources[k], out var values);
                    rowsOf[k] = Address(values);
                }
                InterleaveRows(rowsOf, widths, rows, Floats(dst));
                return dst;
            }
            finally
            {
                foreach (var t in converted) t?.Dispose();
            }
        }

        /// <summary>
        /// Fills the destination in bands of rows that fit in L2; within a band, each source contributes
        /// a contiguous run of its rows. Column blocks copied whole would stride through every row of a
        /// multi-MB matrix once per client (a TLB miss per short write); rows interleaved across all
        /// clients would read K streams at once, more than the prefetchers follow.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static unsafe void InterleaveRows(nint[] sources, int[] widths, int rows, Span<float> dst)
        {
            const int BandBytes = 256 << 10;
            int width = widths.Sum();
            int band = Math.Max(1, BandBytes / (width * sizeof(float)));
            fixed (float* start = dst)
            {
                // Non-temporal stores need every row segment 32-byte aligned: widths in whole vectors.
                bool streaming = Avx.IsSupported && ((nint)start & 31) == 0 && widths.All(w => w % 8 == 0);
                for (int first = 0; first < rows; first += band)
                {
                    int last = Math.Min(rows, first + band);
                    float* column = start + (long)first * width;
                    for (int k = 0; k < sources.Length; k++)
                    {
                        int w = widths[k];
                        float* from = (float*)sources[k] + (long)first * w;
                        float* to = column;
                        for (int i = first; i < last; i++, from += w, to += width)
                            CopyRow(from, to, w, streaming);
                        column += w;
                    }
                }
                if (streaming) Sse.StoreFence();
            }
        }

        /// <summary>LoRA rows are a few vectors long (r = 16: two 256-bit vectors); a call to memmove costs more than the copy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static unsafe void CopyRow(float* from, float* to, int count, bool streaming)
        {
            int i = 0;
            if (streaming)
                for (; i <= count - 8; i += 8)
                    Avx.StoreAlignedNonTemporal(to + i, Vector256.Load(from + i));
            else
                for (; i <= count - 8; i += 8)
                    Vector256.Store(Vector256.Load(from + i), to + i);
            for (; i < count; i++)
                to[i] = from[i];
        }

        /// <summary>libtorch storage is native memory the GC never moves: its address stays valid while the tensor lives.</summary>
        static unsafe nint Address(ReadOnlySpan<float> values) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(values));

        static void Apply(ReadOnlySpan<float> from, Span<float> to, float scale, bool accumulate)
        {
            if (accumulate) MultiplyAdd(from, scale, to);
            else if (!StreamScaled(from, to, scale)) TensorPrimitives.Multiply(from, scale, to);
        }

        /// <summary>
        /// to = from * scale + to, the product rounded before the sum (as TensorPrimitives.MultiplyAdd, not fused); with
        /// <paramref name="start"/>, to = from * scale + 0 into uninitialised memory (the bits of adding to zeros: -0 becomes
        /// +0). Written out because a one-shot process runs TensorPrimitives' generic code unoptimised (tier 0) for most of an
        /// aggregation.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void MultiplyAdd(ReadOnlySpan<float> from, float scale, Span<float> to, bool start = false)
        {
            ref float x = ref MemoryMarshal.GetReference(from);
            ref float y = ref MemoryMarshal.GetReference(to);
            var s = Vector512.Create(scale);
            int i = 0;
            if (start)
            {
                for (; i + 16 <= from.Length; i += 16)
                    (Vector512.LoadUnsafe(ref x, (nuint)i) * s + Vector512<float>.Zero).StoreUnsafe(ref y, (nuint)i);
                for (; i < from.Length; i++)
                    Unsafe.Add(ref y, i) = Unsafe.Add(ref x, i) * scale + 0f;
                return;
            }
            for (; i + 16 <= from.Length; i += 16)
                (Vector512.LoadUnsafe(ref x, (nuint)i) * s + Vector512.LoadUnsafe(ref y, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
            for (; i < from.Length; i++)
                Unsafe.Add(ref y, i) = Unsafe.Add(ref x, i) * scale + Unsafe.Add(ref y, i);
        }

        /// <summary>
        /// to = scale * from with non-temporal stores, which skip reading the destination into cache
        /// first (as large memcpys do): a fresh global adapter is written once and not read back soon.
        /// Returns false, doing nothing, when the destination is not 32-byte aligned.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static unsafe bool StreamScaled(ReadOnlySpan<float> from, Span<float> to, float scale)
        {
            fixed (float* f = from)
            fixed (float* t = to)
            {
                if (!Avx.IsSupported || ((nint)t & 31) != 0) return false;
                var s = Vector256.Create(scale);
                int i = 0;
                for (; i <= from.Length - 8; i += 8)
                    Avx.StoreAlignedNonTemporal(t + i, Vector256.Load(f + i) * s);
                for (; i < from.Length; i++)
                    t[i] = f[i] * scale;
                Sse.StoreFence();
                return true;
            }
        }

        static void Apply(ReadOnlySpan<float> from, Span<double> to, double scale, bool accumulate)
        {
            for (int j = 0; j < from.Length; j++)
                to[j] = accumulate ? to[j] + scale * from[j] : scale * from[j];
        }

        /// <summary>
        /// The tensor's values as float32: a view of its own storage when it already is contiguous float32
        /// (returns null), else of a converted copy (returned, for the caller to dispose).
        /// </summary>
        static Tensor? Float32(Tensor t, out ReadOnlySpan<float> values)
        {
            if (t.dtype == ScalarType.Float32 && t.is_contiguous())
            {
                values = Floats(t);
                return null;
            }
            var copy = t.to(ScalarType.Float32).contiguous();
            values = Floats(copy);
            return copy;
        }

        internal static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);
        static Span<double> Doubles(Tensor t) => MemoryMarshal.Cast<byte, double>(t.bytes);
    }

    /// <summary>The same operations as TorchSharp calls, for tensors that live on an accelerator.</summary>
    internal sealed class Torch : FactorKernels
    {
        public static readonly Torch Instance = new();

        public override void RowBlock(Tensor src, Tensor dst, int offset, double scale, bool accumulate) =>
            Block(src, dst, 0, offset, scale, accumulate);

        public override void ColumnBlock(Tensor src, Tensor dst, int offset, double scale, bool accumulate) =>
            Block(src, dst, 1, offset, scale, accumulate);

        public override Tensor ConcatColumns(IReadOnlyList<Tensor> sources, ScalarType dtype)
        {
            using var scope = NewDisposeScope();
            return cat(sources.Select(t => t.to(dtype)).ToList(), 1).MoveToOuterDisposeScope();
        }

        static void Block(Tensor src, Tensor dst, int dim, int offset, double scale, bool accumulate)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var block = dst.narrow(dim, offset, src.shape[dim]);
            var source = src.to(dst.dtype, dst.device);
            using var alpha = scale.ToScalar();
            if (accumulate) block.add_(source, alpha);
            else block.copy_(source).mul_(alpha);
        }
    }
}
