using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Federated.Protocol.V1;
using Federated.Training.Models;
using static TorchSharp.torch;

namespace Federated.Agent.Devices;

/// <summary>What this machine trains on, as the coordinator sees it (its rank policy reads the GPU memory).</summary>
/// <param name="GpuMemoryBytes">Total memory of the first GPU; 0 on the CPU or when it cannot be read.</param>
/// <param name="ComputeDtype">What the base model is held and computed in there (float32 or bfloat16).</param>
public sealed record DetectedDevice(Device Device, string Kind, string? GpuName, long GpuMemoryBytes, ScalarType ComputeDtype)
{
    public static string AgentVersion { get; } =
        typeof(DetectedDevice).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    public DeviceInfo ToProto() => new() { Device = Kind, GpuMemoryBytes = GpuMemoryBytes, GpuName = GpuName ?? "", AgentVersion = AgentVersion };

    /// <summary>E.g. "cpu, fp32" or "cuda (NVIDIA A100-SXM4-40GB, 40,960 MiB), bf16".</summary>
    public override string ToString() =>
        (GpuName is null ? Kind : $"{Kind} ({GpuName}, {GpuMemoryBytes / (1 << 20):N0} MiB)") + $", {ComputePrecision.Name(ComputeDtype)}";
}

/// <summary>
/// CUDA when the requested device allows it and torch sees a GPU, else the CPU, with the precision resolved for it. TorchSharp does not expose the GPU's
/// name or memory, so they come from <c>nvidia-smi</c> when it is installed (reported as unknown, 0 bytes, otherwise).
/// </summary>
public static class DeviceDetector
{
    /// <param name="requested">auto, cpu or cuda.</param>
    /// <param name="precision">auto, fp32 or bf16 (<see cref="ComputePrecision"/>).</param>
    /// <exception cref="ArgumentException">cuda was asked for and none is available, or the precision is unknown.</exception>
    public static DetectedDevice Detect(string requested, string precision = "auto")
    {
        var device = ComputeDevice.Select(requested);
        var dtype = ComputePrecision.Select(precision, device);
        if (device.type != TorchSharp.DeviceType.CUDA) return new DetectedDevice(device, "cpu", null, 0, dtype);
        var (name, memory) = QueryNvidiaSmi() ?? ("cuda", 0L);
        return new DetectedDevice(device, "cuda", name, memory, dtype);
    }

    /// <summary>The first GPU's name and total memory, or null when nvidia-smi is absent or says something else.</summary>
    static (string Name, long Bytes)? QueryNvidiaSmi()
    {
        try
        {
            var psi = new ProcessStartInfo("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(psi);
            if (process is null) return null;
            string output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(5000) || process.ExitCode != 0) return null;
            return ParseNvidiaSmi(output);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Parses "NVIDIA A100-SXM4-40GB, 40960" (memory in MiB); the first line is the first GPU.</summary>
    public static (string Name, long Bytes)? ParseNvidiaSmi(string output)
    {
        string? line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        int comma = line?.LastIndexOf(',') ?? -1;
        if (line is null || comma <= 0 || !long.TryParse(line[(comma + 1)..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long mib))
            return null;
        return (line[..comma].Trim(), mib << 20);
    }
}
