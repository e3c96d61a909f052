using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Federated.Core.Runtime;

/// <summary>What <see cref="MklDispatch.UseAvx512OnAmd"/> found and did.</summary>
public enum MklKernelPath
{
    /// <summary>MKL will run its AVX-512 kernels: the CPU is AMD with AVX-512 and MKL had not chosen yet.</summary>
    Avx512,
    /// <summary>Nothing to change: not Linux x64, not an AMD CPU (MKL chooses well on Intel), or no AVX-512.</summary>
    VendorDefault,
    /// <summary>MKL had already run and chosen its path in this process; changing it now would mix kernels, so it stays.</summary>
    AlreadyChosen,
    /// <summary>This libtorch's MKL is not the build this was checked against (no such export, or other code); left alone.</summary>
    Unrecognised,
    /// <summary>Switched off by the operator (<c>FEDERATED_MKL_AVX512=0</c>).</summary>
    Disabled,
}

/// <summary>
/// libtorch's CPU build links Intel MKL, which picks its GEMM kernels by CPU vendor, not by instruction set: on an AMD
/// processor with AVX-512 it runs its AVX2 kernels. Measured on this project's Zen 5 machine, the AVX-512 kernels make a
/// LoRA training step of the small base take 0.58x the time, a FLoRA aggregation of 100 clients 0.6x and Krum 0.5x.
/// MKL asks one exported function, <c>mkl_serv_intel_cpu_true</c>, whether the CPU is Intel, and that function keeps its
/// answer in a word it reads first (negative until asked). Hosts call <see cref="UseAvx512OnAmd"/> once at start, before
/// any tensor work: on AMD with AVX-512 it stores "Intel" in that word, the same effect as the widely used LD_PRELOAD
/// override of the function, without a native shim. MKL's kernels still check the instruction sets they need.
/// The function's code is checked byte for byte first, so another MKL build is left alone.
/// </summary>
public static class MklDispatch
{
    public const string SwitchVariable = "FEDERATED_MKL_AVX512";
    const string Export = "mkl_serv_intel_cpu_true";

    static readonly object s_gate = new();
    static MklKernelPath? s_outcome;

    /// <summary>Idempotent: the first call decides, later calls return the same outcome.</summary>
    public static MklKernelPath UseAvx512OnAmd()
    {
        lock (s_gate) return s_outcome ??= Decide();
    }

    static MklKernelPath Decide()
    {
        if (Environment.GetEnvironmentVariable(SwitchVariable) == "0") return MklKernelPath.Disabled;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || !IsAmdWithAvx512())
            return MklKernelPath.VendorDefault;
        return WithVendorCheck(function =>
        {
            if (CachedAnswer(function) is not { } answer) return MklKernelPath.Unrecognised;
            int value = Marshal.ReadInt32(answer);
            if (value >= 0) return value == 1 ? MklKernelPath.Avx512 : MklKernelPath.AlreadyChosen;
            Marshal.WriteInt32(answer, 1);
            return MklKernelPath.Avx512;
        }) ?? MklKernelPath.Unrecognised;
    }

    internal static bool IsAmdWithAvx512()
    {
        if (!X86Base.IsSupported) return false;
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        bool amd = ebx == 0x68747541 && edx == 0x69746E65 && ecx == 0x444D4163; // "Auth" "enti" "cAMD"
        // MKL's AVX-512 path is Skylake-SP's instruction set.
        return amd && Avx512F.IsSupported && Avx512F.VL.IsSupported && Avx512BW.IsSupported && Avx512CD.IsSupported && Avx512DQ.IsSupported;
    }

    /// <summary>
    /// The address of the word the function caches its answer in, if its code is the known one:
    /// <c>mov eax, [rip + d]; test eax, eax; js compute; ret</c>.
    /// </summary>
    internal static nint? CachedAnswer(nint function)
    {
        ReadOnlySpan<byte> head = [0x8B, 0x05], tail = [0x85, 0xC0, 0x78, 0x01, 0xC3];
        for (int i = 0; i < head.Length; i++)
            if (Marshal.ReadByte(function, i) != head[i]) return null;
        for (int i = 0; i < tail.Length; i++)
            if (Marshal.ReadByte(function, 6 + i) != tail[i]) return null;
        return function + 6 + Marshal.ReadInt32(function, 2);
    }

    /// <summary>
    /// What MKL itself answers when it asks whether the CPU is Intel (1 or 0; asking decides it if nothing has yet), null
    /// where this libtorch has no such MKL.
    /// </summary>
    internal static unsafe int? IntelCpuAnswer() =>
        OperatingSystem.IsLinux() ? WithVendorCheck<int>(function => ((delegate* unmanaged<int>)function)()) : null;

    /// <summary><paramref name="use"/> of the vendor check's address in the libtorch_cpu.so this process loaded; null without one.</summary>
    static T? WithVendorCheck<T>(Func<nint, T> use) where T : struct =>
        LibTorchCpu.TryGetExport(Export, out var function) ? use(function) : null;
}
