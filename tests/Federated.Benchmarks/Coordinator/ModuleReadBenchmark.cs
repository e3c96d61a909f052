using System.Diagnostics;
using System.Globalization;
using System.Text;
using Federated.Contracts;
using Federated.Core.Runtime;
using Federated.Storage;
using Federated.Testing;
using StackExchange.Redis;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Coordinator;

/// <summary>
/// How a round's aggregation reads modules from the Redis update store, alone: 300 stored payloads of the ingest's size (4.3 MB),
/// and one module of every payload at a time (the q_proj and v_proj factor ranges of Qwen2-0.5B at rank 16, 16 reads in
/// flight, as a module shard reads), into fresh tensors. Two ways, alternated in one worker process that runs as the
/// coordinator does (server GC, no dynamic PGO, its large-object threshold, glibc's freed memory retained):
/// <see cref="IContentStore.ReadRangeIntoAsync"/> (each GETRANGE reply copied from StackExchange.Redis's pooled buffer into the
/// tensors) against StackExchange.Redis's plain <c>StringGetRangeAsync</c> (a new array per reply, joined when a range spans two chunks, then copied into the
/// tensors, as the store read before). CPU = the worker's utime + stime per GB read.
/// Run: deploy/benchmark.sh module-reads
/// </summary>
static class ModuleReadBenchmark
{
    const int Payloads = 300, PayloadBytes = 4_340_256, Layers = 24, InFlight = 16, Pairs = 7;
    const int RankBytes = 16 * sizeof(float), QBytes = 896 * RankBytes, VBBytes = 128 * RankBytes;

    public static async Task<int> RunAsync()
    {
        await using var redis = new RedisServer();
        await redis.InitializeAsync();
        using var worker = Process.Start(CoordinatorRuntime.Apply(
            new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Federated.Benchmarks.dll"), "module-reads-worker", redis.Configuration])
            {
                RedirectStandardOutput = true,
            }))!;
        var lines = new List<string>();
        while (await worker.StandardOutput.ReadLineAsync() is { } line)
        {
            Console.WriteLine(line);
            lines.Add(line);
        }
        await worker.WaitForExitAsync();
        if (worker.ExitCode != 0) throw new InvalidOperationException($"the worker exited with {worker.ExitCode}");
        var pairs = lines.Where(l => l.StartsWith("pair", StringComparison.Ordinal))
            .Select(l => l.Split(' ').Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        string Row(string label, int cpu, int wall) => FormattableString.Invariant(
            $"| {label} | {Statistics.Median(pairs.Select(p => p[cpu])):F2} | {Statistics.Median(pairs.Select(p => p[wall])):F2} s |");
        var report = new StringBuilder()
            .AppendLine(FormattableString.Invariant($"{Payloads} payloads of {PayloadBytes:N0} bytes in one redis-server; one module of every payload at a time ({Layers} q_proj ranges of {2 * QBytes:N0} bytes and {Layers} v_proj ranges of {QBytes + VBBytes:N0}, as stored: A then B, in 1 MiB chunks), {InFlight} reads in flight, into fresh tensors; the two ways alternated {pairs.Count} times in one worker (server GC, as the coordinator runs), medians. CPU = the worker's utime + stime per GB read."))
            .AppendLine()
            .AppendLine("| read | core-s per GB | wall, all modules |")
            .AppendLine("|---|---:|---:|")
            .AppendLine(Row("`ReadRangeIntoAsync`: each reply copied from the client's pooled buffer into the tensors", 2, 3))
            .AppendLine(Row("`StringGetRangeAsync`: a new array per reply, then copied into the tensors", 0, 1))
            .AppendLine()
            .AppendLine(FormattableString.Invariant($"CPU ratio (into / array), median of the pairs: {Statistics.Median(pairs.Select(p => p[2] / p[0])):F2}"))
            .ToString();
        Console.WriteLine();
        Console.Write(report);
        ResultsFile.Append("Module reads from the Redis update store (`deploy/benchmark.sh module-reads`)", "StackExchange.Redis 3, redis-server 7", report);
        return 0;
    }

    /// <summary>The measured process: stores the payloads, then alternates the two ways, one "pair" line each (CPU per GB and wall seconds of each).</summary>
    public static async Task<int> WorkerAsync(string configuration)
    {
        NativeAllocator.RetainFreedMemory();
        using var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration);
        var db = multiplexer.GetDatabase();
        IContentStore store = new RedisContentStore(multiplexer);
        var random = new Random(5);
        var references = new List<StoredUpdate>();
        var payload = new byte[PayloadBytes];
        for (int i = 0; i < Payloads; i++)
        {
            random.NextBytes(payload);
            references.Add(await store.PutAsync(new MemoryStream(payload)));
        }
        // The factors laid end to end after a header, as a payload of this shape stores them.
        var modules = new List<(long Offset, int A, int B)>();
        long at = 4096;
        for (int layer = 0; layer < Layers; layer++)
        {
            modules.Add((at, QBytes, QBytes));
            at += 2 * QBytes;
            modules.Add((at, QBytes, VBBytes));
            at += QBytes + VBBytes;
        }
        double gigabytes = Payloads * (double)modules.Sum(m => m.A + m.B) / 1e9;

        async Task Into(StoredUpdate reference, (long Offset, int A, int B) m)
        {
            using var a = empty(m.A / sizeof(float));
            using var b = empty(m.B / sizeof(float));
            await store.ReadRangeIntoAsync(reference, m.Offset, [TensorMemory.Of(a), TensorMemory.Of(b)]);
        }
        async Task Array(StoredUpdate reference, (long Offset, int A, int B) m)
        {
            // As the store read before: one GETRANGE per chunk the range touches, each a new array, joined when there are two.
            const long Chunk = 1 << 20;
            int count = m.A + m.B;
            var pieces = new List<Task<RedisValue>>();
            for (long at = m.Offset; at < m.Offset + count;)
            {
                long within = at % Chunk, piece = Math.Min(Chunk - within, m.Offset + count - at);
                pieces.Add(db.StringGetRangeAsync($"fed:update:{reference.Sha256}:{at / Chunk}", within, within + piece - 1));
                at += piece;
            }
            byte[] bytes;
            if (pieces.Count == 1) bytes = (byte[])(await pieces[0])!;
            else
            {
                bytes = new byte[count];
                int filled = 0;
                foreach (var piece in pieces)
                {
                    var value = (byte[])(await piece)!;
                    value.CopyTo(bytes, filled);
                    filled += value.Length;
                }
            }
            using var a = empty(m.A / sizeof(float));
            using var b = empty(m.B / sizeof(float));
            bytes.AsSpan(0, m.A).CopyTo(a.bytes);
            bytes.AsSpan(m.A, m.B).CopyTo(b.bytes);
        }
        async Task<(double CpuPerGb, double Wall)> Measure(Func<StoredUpdate, (long, int, int), Task> read)
        {
            using var self = Process.GetCurrentProcess();
            var cpu = self.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            foreach (var m in modules)
            {
                int next = -1;
                await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < references.Count) await read(references[i], m);
                }));
            }
            self.Refresh();
            return ((self.TotalProcessorTime - cpu).TotalSeconds / gigabytes, clock.Elapsed.TotalSeconds);
        }

        await Measure(Array); // warm-up: JIT, pools, the layouts cache
        await Measure(Into);
        for (int pair = 0; pair < Pairs; pair++)
        {
            var array = await Measure(Array);
            var into = await Measure(Into);
            Console.WriteLine(FormattableString.Invariant($"pair {array.CpuPerGb:F4} {array.Wall:F4} {into.CpuPerGb:F4} {into.Wall:F4}"));
        }
        return 0;
    }
}
