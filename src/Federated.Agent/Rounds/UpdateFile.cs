using System.Security.Cryptography;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.IO;

namespace Federated.Agent.Rounds;

/// <summary>What was written: the SHA-256 and size of the file's bytes (what the upload sends), and the compression achieved.</summary>
/// <param name="Compression">Payload bytes against float32 factors; null for a plain float32 payload.</param>
public sealed record WrittenUpdate(string Sha256, long Size, CompressionStats? Compression);

/// <summary>
/// Writes a trained update as the exact bytes to upload: a plain payload (<see cref="AdapterPayload"/>), or a compressed
/// one (<see cref="CompressedAdapterFile"/>), which the coordinator reads through the same door. The file on disk is what
/// a restarted agent uploads, so its hash and size are of these bytes.
/// </summary>
public static class UpdateFile
{
    public static WrittenUpdate Write(string path, LoraAdapter update, UploadCompression? compression, long roundSeed)
    {
        byte[] payload;
        CompressionStats? stats = null;
        if (compression is null)
            payload = AdapterPayload.ToBytes(update);
        else
        {
            var compressor = compression.CreateCompressor(roundSeed);
            try
            {
                using var compressed = compressor.Compress(update);
                using var buffer = new MemoryStream();
                CompressedAdapterFile.Write(buffer, compressed);
                payload = buffer.ToArray();
                stats = compressed.Stats;
            }
            finally { (compressor as IDisposable)?.Dispose(); }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        DurableFile.WriteBytes(path, payload);
        return new WrittenUpdate(Convert.ToHexStringLower(SHA256.HashData(payload)), payload.Length, stats);
    }
}
