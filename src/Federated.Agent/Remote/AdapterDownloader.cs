using System.Collections.Concurrent;
using System.Security.Cryptography;
using Federated.Agent.State;
using Federated.Agent.Trust;
using Federated.IO;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Federated.Agent.Remote;

/// <summary>
/// Downloads a global adapter into the state directory: bytes go to <c>&lt;sha&gt;.partial</c>, a broken stream
/// resumes at the partial file's length, and the file becomes <c>&lt;sha&gt;.safetensors</c> only after its SHA-256
/// matches. The coordinator is not trusted: the file never grows past the declared size (more bytes, a chunk at the
/// wrong offset or an empty chunk make the download bad), and a bad download is discarded and tried again after a
/// backoff, at most <see cref="MaxBadDownloads"/> times per adapter in this process; then the round is given up.
/// </summary>
public sealed class AdapterDownloader(CoordinatorConnection connection, AgentStateStore state, RetryPolicy retry, Backoff backoff,
    ILogger<AdapterDownloader> logger)
{
    public const int MaxBadDownloads = 3;
    readonly ConcurrentDictionary<string, (int Count, string Reason)> _bad = new(StringComparer.Ordinal);

    /// <returns>The path of the verified adapter file.</returns>
    /// <exception cref="CoordinatorInputException">The coordinator served this adapter badly <see cref="MaxBadDownloads"/> times, or it was refused.</exception>
    public async Task<string> DownloadAsync(AdapterReference adapter, CancellationToken cancellation)
    {
        string target = state.AdapterPath(adapter.Sha256);
        if (File.Exists(target)) return target;
        if (_bad.TryGetValue(adapter.Sha256, out var before) && before.Count >= MaxBadDownloads)
            throw GivenUp(adapter, before);
        string partial = state.PartialAdapterPath(adapter.Sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        while (true)
        {
            string? bad;
            try
            {
                await retry.RunAsync("DownloadAdapter", ct => ReceiveAsync(adapter, partial, ct), cancellation);
                bad = Sha256Of(partial) == adapter.Sha256 ? null : "the downloaded bytes do not match its SHA-256";
            }
            catch (CoordinatorInputException e)
            {
                bad = e.Message;
            }
            if (bad is null) break;
            File.Delete(partial);
            var now = _bad.AddOrUpdate(adapter.Sha256, _ => (1, bad), (_, b) => (b.Count + 1, bad));
            if (now.Count >= MaxBadDownloads) throw GivenUp(adapter, now);
            var delay = backoff.Delay(now.Count - 1);
            logger.LogWarning("Adapter {Adapter}: {Reason}; discarded, downloading again in {Delay:0.0} s (bad download {Count} of at most {Max})",
                adapter.ToString(), bad, delay.TotalSeconds, now.Count, MaxBadDownloads);
            await Task.Delay(delay, cancellation);
        }
        DurableFile.Commit(partial, target);
        _bad.TryRemove(adapter.Sha256, out _);
        return target;
    }

    /// <summary>A verified adapter the agent cannot use (its header does not fit): deleted, and not downloaded again by this process.</summary>
    public void Refuse(AdapterReference adapter, string reason)
    {
        File.Delete(state.AdapterPath(adapter.Sha256));
        _bad[adapter.Sha256] = (int.MaxValue, reason);
    }

    async Task ReceiveAsync(AdapterReference adapter, string partial, CancellationToken cancellation)
    {
        // Not FileMode.Append: an append-mode stream cannot be truncated (SetLength throws), which once made a bad download retry forever.
        await using var file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None);
        long offset = file.Length;
        if (offset > adapter.Size) { file.SetLength(0); offset = 0; }
        file.Seek(offset, SeekOrigin.Begin);
        // Complete already (a previous process's download): flushed again, as its bytes may still be in the page cache only.
        if (offset == adapter.Size) { FileSystemSync.FlushFile(file); return; }
        if (offset > 0) logger.LogInformation("Resuming the download of adapter {Sha256} at byte {Offset:N0} of {Size:N0}", adapter.Sha256, offset, adapter.Size);
        using var call = connection.Client.DownloadAdapter(new() { Adapter = adapter.ToProto(), Offset = offset }, connection.Options(cancellation));
        try
        {
            await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellation))
            {
                if (chunk.Offset != offset)
                    throw new CoordinatorInputException($"the coordinator sent a chunk at offset {chunk.Offset:N0} where {offset:N0} was expected");
                if (chunk.Data.Length == 0)
                    throw new CoordinatorInputException($"the coordinator sent an empty chunk at byte {offset:N0}");
                // Checked before the write: the file never holds more than the declared size.
                if (chunk.Data.Length > adapter.Size - offset)
                    throw new CoordinatorInputException($"the coordinator sent more than the declared {adapter.Size:N0} bytes (a {chunk.Data.Length:N0}-byte chunk at byte {offset:N0}); stopped at byte {offset:N0}");
                await file.WriteAsync(chunk.Data.Memory, cancellation);
                offset += chunk.Data.Length;
            }
        }
        finally
        {
            // What arrived is kept for the next attempt, even if this one fails.
            await file.FlushAsync(CancellationToken.None);
            FileSystemSync.FlushFile(file);
        }
        if (offset != adapter.Size)
            throw new IOException($"adapter {adapter.Sha256}: the stream ended at byte {offset:N0} of {adapter.Size:N0}");
    }

    static CoordinatorInputException GivenUp(AdapterReference adapter, (int Count, string Reason) bad) =>
        new($"adapter {adapter}: {bad.Reason}; " + (bad.Count == int.MaxValue ? "refused" : $"given up after {bad.Count} bad downloads") +
            ", so this agent does not train this round");

    static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
