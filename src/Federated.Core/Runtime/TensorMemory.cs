using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Core.Runtime;

/// <summary>
/// A contiguous CPU tensor's bytes as <see cref="Memory{T}"/>, so that an asynchronous read (a store's reply) lands in the
/// tensor itself: no array per read for the garbage collector to zero and collect, and no second copy. Valid while the
/// tensor lives.
/// </summary>
public static class TensorMemory
{
    /// <exception cref="ArgumentException">The tensor is not a contiguous CPU tensor.</exception>
    public static Memory<byte> Of(Tensor tensor)
    {
        if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
            throw new ArgumentException("only a contiguous CPU tensor's bytes can be read into", nameof(tensor));
        return new Manager(tensor).Memory;
    }

    /// <summary>The tensor's storage does not move while the tensor lives: pinning is a no-op.</summary>
    sealed unsafe class Manager(Tensor tensor) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => tensor.bytes;

        public override MemoryHandle Pin(int elementIndex = 0) =>
            new((byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes)) + elementIndex);

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
