using System.Security.Cryptography;
using Federated.Protocol.V1;

namespace Federated.Benchmarks.Security.Agent;

/// <summary>
/// Issue 15, item 8: an adapter declared as 1,000 bytes for which the coordinator streams 300 MiB. The agent must stop at the
/// declared size (disk and memory bounded) and not retry in a tight loop: over 20 s, the DownloadAdapter calls the server
/// saw and the failed attempts the agent logged (a retry that fails before calling, as after a bad download, is only in the log).
/// </summary>
static class OversizedDownloadAttack
{
    const int Declared = 1000, MaxAttempts = 10;
    const long Streamed = 300L << 20;
    const long MaxDisk = 1 << 20;
    static readonly TimeSpan Window = TimeSpan.FromSeconds(20);

    public static SecurityAttack Attack => new("agent-oversized-download", "agent",
        $"stops at the declared {Declared:N0} B (disk < 1 MiB); <= {MaxAttempts} attempts in {Window.TotalSeconds:0} s",
        async () =>
        {
            string sandbox = AttackedAgent.NewSandbox();
            var reference = new AdapterRef { Sha256 = Convert.ToHexStringLower(SHA256.HashData("declared"u8)), Size = Declared };
            var script = new HostileScript([reference], StreamTooMuchAsync);
            return await OnAgent.RunAsync(sandbox, script, agent => ObserveAsync(agent, script));
        });

    /// <summary>300 MiB in 1 MiB chunks with consistent offsets, whatever the declared size.</summary>
    static async Task<long> StreamTooMuchAsync(DownloadAdapterRequest request, Grpc.Core.IServerStreamWriter<AdapterChunk> stream, CancellationToken ct)
    {
        var chunk = Google.Protobuf.ByteString.CopyFrom(new byte[1 << 20]);
        long offset = request.Offset, written = 0;
        try
        {
            while (written < Streamed && !ct.IsCancellationRequested)
            {
                await stream.WriteAsync(new AdapterChunk { Offset = offset, Data = chunk, TotalSize = Declared }, ct);
                offset += chunk.Length;
                written += chunk.Length;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or IOException) { } // the agent hung up
        return written;
    }

    static async Task<AttackOutcome> ObserveAsync(AttackedAgent agent, HostileScript script)
    {
        long baseline = agent.DiskBytes(), peak = baseline;
        var end = DateTime.UtcNow + Window;
        while (DateTime.UtcNow < end)
        {
            peak = Math.Max(peak, agent.DiskBytes());
            await Task.Delay(100);
        }
        long disk = peak - baseline;
        int failed = agent.CountLines("DownloadAdapter failed") + agent.CountLines("Round not completed");
        string observed = FormattableString.Invariant(
            $"in {Window.TotalSeconds:0} s: {script.DownloadCalls} downloads served ({script.BytesSent / 1048576.0:F0} MiB sent), {failed} failed attempts logged, peak disk +{disk / 1048576.0:F1} MiB");
        var problems = new List<string>();
        if (disk >= MaxDisk) problems.Add(FormattableString.Invariant($"wrote {disk / 1048576.0:F0} MiB for a {Declared:N0}-byte adapter"));
        if (Math.Max(script.DownloadCalls, failed) > MaxAttempts) problems.Add($"{Math.Max(script.DownloadCalls, failed)} attempts in {Window.TotalSeconds:0} s");
        if (agent.HasExited) problems.Add("the agent exited");
        return AttackOutcome.RefusedIf(problems.Count == 0, observed, string.Join("; ", problems));
    }
}
