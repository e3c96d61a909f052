using System.Security.Cryptography;
using Federated.Agent.State;
using Federated.Protocol.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Remote;

/// <summary>
/// Downloads a global adapter into the state directory: bytes go to <c>&lt;sha&gt;.partial</c>, a broken stream
/// resumes at the partial file's length, and the file becomes <c>&lt;sha&gt;.safetensors</c> only after its SHA-256
/// matches. A mismatch discards the partial file and starts over once.
/// </summary>
public sealed class AdapterDownloader(CoordinatorConnection connection, AgentStateStore state, RetryPolicy retry, ILogger<AdapterDownloader> logger)
{
    /// <returns>The path of the verified adapter file.</returns>
    public async Task<string> DownloadAsync(AdapterRef adapter, CancellationToken cancellation)
    {
        string target = state.AdapterPath(adapter.Sha256);
        if (File.Exists(target)) return target;
        string partial = state.PartialAdapterPath(adapter.Sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        for (int attempt = 0; ; attempt++)
        {
            await retry.RunAsync("DownloadAdapter", ct => ReceiveAsync(adapter, partial, ct), cancellation);
            if (Sha256Of(partial) == adapter.Sha256) break;
            File.Delete(partial);
            if (attempt > 0)
                throw new RpcException(new Status(StatusCode.DataLoss, $"adapter {adapter.Sha256}: the downloaded bytes do not match its SHA-256, twice"));
            logger.LogWarning("Adapter {Sha256}: downloaded bytes do not match the SHA-256; downloading again", adapter.Sha256);
        }
        File.Move(partial, target, overwrite: true);
        return target;
    }

    async Task ReceiveAsync(AdapterRef adapter, string partial, CancellationToken cancellation)
    {
        await using var file = new FileStream(partial, FileMode.Append, FileAccess.Write, FileShare.None);
        long offset = file.Length;
        if (offset > adapter.Size) { file.SetLength(0); offset = 0; }
        if (offset == adapter.Size) return;
        if (offset > 0) logger.LogInformation("Resuming the download of adapter {Sha256} at byte {Offset:N0} of {Size:N0}", adapter.Sha256, offset, adapter.Size);
        using var call = connection.Client.DownloadAdapter(new DownloadAdapterRequest { Adapter = adapter, Offset = offset }, connection.Options(cancellation));
        try
        {
            await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellation))
            {
                if (chunk.Offset != offset)
                    throw new RpcException(new Status(StatusCode.DataLoss, $"adapter {adapter.Sha256}: a chunk at offset {chunk.Offset} where {offset} was expected"));
                await file.WriteAsync(chunk.Data.Memory, cancellation);
                offset += chunk.Data.Length;
            }
        }
        finally
        {
            // What arrived is kept for the next attempt, even if this one fails.
            await file.FlushAsync(CancellationToken.None);
            file.Flush(flushToDisk: true);
        }
        if (offset != adapter.Size)
            throw new IOException($"adapter {adapter.Sha256}: the stream ended at byte {offset:N0} of {adapter.Size:N0}");
    }

    static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
