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
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        CompressionStats? stats = null;
        long size = 0;
        using var sha = SHA256.Create();
        // Streamed into the file and hashed on the way, never one array: an update may exceed 2 GiB.
        DurableFile.Write(path, file =>
        {
            long start = file.Position;
            using (var hashing = new CryptoStream(file, sha, CryptoStreamMode.Write, leaveOpen: true))
            {
                if (compression is null)
                    AdapterPayload.Write(hashing, update);
                else
                    stats = WriteCompressed(hashing, update, compression, roundSeed);
                hashing.FlushFinalBlock();
            }
            size = file.Position - start;
        });
        return new WrittenUpdate(Convert.ToHexStringLower(sha.Hash!), size, stats);
    }

    static CompressionStats WriteCompressed(Stream stream, LoraAdapter update, UploadCompression compression, long roundSeed)
    {
        var compressor = compression.CreateCompressor(roundSeed);
        try
        {
            using var compressed = compressor.Compress(update);
            CompressedAdapterFile.Write(stream, compressed);
            return compressed.Stats;
        }
        finally { (compressor as IDisposable)?.Dispose(); }
    }
}
