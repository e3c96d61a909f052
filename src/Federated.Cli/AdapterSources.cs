using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats.Peft;

namespace Federated.Cli;

/// <summary>
/// Where the CLI reads an adapter from: a PEFT directory, or a compressed upload (the file itself, or a
/// directory holding only <see cref="CompressedAdapterFile.FileName"/>), decompressed to exactly what the
/// coordinator's aggregator sees.
/// </summary>
static class AdapterSources
{
    public static LoraAdapter Read(string path)
    {
        string? compressed = File.Exists(path) ? path
            : Directory.Exists(path) && !File.Exists(Path.Combine(path, PeftAdapterDirectory.WeightsFileName))
              && File.Exists(Path.Combine(path, CompressedAdapterFile.FileName)) ? Path.Combine(path, CompressedAdapterFile.FileName)
            : null;
        if (compressed is null) return PeftAdapterDirectory.Read(path);
        using var upload = CompressedAdapterFile.Read(compressed);
        return upload.Decompress();
    }
}
