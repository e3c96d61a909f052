using System.Diagnostics;
using System.IO.Compression;
using Federated.Training.Evaluation;
using Xunit.Abstractions;

namespace Federated.Training.Tests.Evaluation;

/// <summary>
/// Fit time, memory and held-out nats/byte on the 40 MB GCIDE dictionary (Debian's dict-gcide), every 100th entry
/// (blank-line separated block) held out. Skipped unless FED_NGRAM_BENCHMARK names the orders, e.g.
/// <c>FED_NGRAM_BENCHMARK=5 dotnet test -c Release tests/Federated.Training.Tests --filter FullyQualifiedName~ByteNGramBenchmark</c>;
/// run one order per process for its own peak working set.
/// </summary>
public sealed class ByteNGramBenchmarkTests(ITestOutputHelper output)
{
    const string Variable = "FED_NGRAM_BENCHMARK";
    const string Gcide = "/usr/share/dictd/gcide.dict.dz";

    [BenchmarkFact]
    public void Fits_the_gcide_dictionary_and_scores_its_held_out_entries()
    {
        var orders = Environment.GetEnvironmentVariable(Variable)!.Split(',').Select(int.Parse).ToArray();
        var entries = Entries(Gcide);
        var train = entries.Where((_, i) => i % 100 != 0).ToArray();
        var heldOut = entries.Where((_, i) => i % 100 == 0).ToArray();
        output.WriteLine($"{train.Sum(e => (long)e.Length)} bytes in {train.Length} training entries, {heldOut.Sum(e => (long)e.Length)} in {heldOut.Length} held out");
        var windows = Windows(heldOut, 64);
        double previous = double.MaxValue;
        foreach (int order in orders)
        {
            long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
            long workingSetBefore = Process.GetCurrentProcess().WorkingSet64;
            var clock = Stopwatch.StartNew();
            var model = ByteNGramModel.Fit(order, train);
            var fit = clock.Elapsed;
            long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
            clock.Restart();
            var score = model.NatsPerByte(heldOut);
            var scoreWindows = model.NatsPerByte(windows);
            output.WriteLine($"order {order}: fit {fit.TotalSeconds:F1} s, model {(heapAfter - heapBefore) / 1e6:F1} MB ({string.Join("/", model.Grams)} grams), " +
                $"working set {workingSetBefore / 1e6:F0} MB before the fit, peak {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB; " +
                $"held out, one window per entry: {score.NatsPerByte:F4} nats/byte ({score.BitsPerByte:F4} bits) over {score.PredictedBytes} bytes, " +
                $"in windows of at most 64 bytes: {scoreWindows.NatsPerByte:F4} over {scoreWindows.PredictedBytes}; scored in {clock.Elapsed.TotalSeconds:F1} s");
            Assert.True(score.NatsPerByte < previous);
            previous = score.NatsPerByte;
        }
    }

    /// <summary>Each entry cut into non-overlapping windows of at most <paramref name="length"/> bytes.</summary>
    static ReadOnlyMemory<byte>[] Windows(ReadOnlyMemory<byte>[] entries, int length) =>
        entries.SelectMany(e => Enumerable.Range(0, (e.Length + length - 1) / length)
            .Select(i => e.Slice(i * length, Math.Min(length, e.Length - i * length)))).ToArray();

    /// <summary>The dictionary's blank-line separated blocks.</summary>
    static ReadOnlyMemory<byte>[] Entries(string path)
    {
        using var stream = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        var text = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        var entries = new List<ReadOnlyMemory<byte>>();
        int start = 0;
        while (start < text.Length)
        {
            int end = text.Span[start..].IndexOf("\n\n"u8);
            end = end < 0 ? text.Length : start + end;
            if (end > start) entries.Add(text[start..end]);
            start = end + 2;
        }
        return entries.ToArray();
    }

    sealed class BenchmarkFactAttribute : FactAttribute
    {
        public BenchmarkFactAttribute()
        {
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)))
                Skip = $"a 40 MB benchmark: set {Variable} to the orders to fit, e.g. 3,5";
        }
    }
}
