using System.Runtime.InteropServices;

namespace Federated.Core.Runtime;

/// <summary>
/// Symbols of the libtorch_cpu.so TorchSharp loaded (never a second copy): MKL's exports, and through the library's own
/// dependencies (dlsym on its handle searches them) its OpenMP runtime. The handle stays open: libtorch is loaded for the
/// process's life, and the addresses handed out must stay valid with it.
/// </summary>
static partial class LibTorchCpu
{
    const int RtldLazy = 0x1, RtldNoload = 0x4;

    static readonly Lazy<nint> s_handle = new(Open);

    /// <summary>The address of <paramref name="name"/>; false where there is no such export, or no libtorch_cpu.so (not Linux).</summary>
    public static bool TryGetExport(string name, out nint address)
    {
        address = 0;
        return s_handle.Value != 0 && NativeLibrary.TryGetExport(s_handle.Value, name, out address);
    }

    static nint Open()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU); // loads libtorch_cpu.so
        try { return dlopen("libtorch_cpu.so", RtldLazy | RtldNoload); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 0; }
    }

    [LibraryImport("libc", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlopen(string file, int mode);
}
