using System.Collections.Concurrent;
using System.IO.Pipelines;
using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;

namespace Federated.Grains.Aggregation;

/// <summary>
/// Reads stored adapter payloads by parts (the header alone, or some modules' factors: byte ranges of a plain payload) and
/// writes them as a stream, so no payload is ever one array: payloads may exceed 2 GiB.
/// </summary>
public static class PayloadModules
{
    /// <summary>
    /// The payload's header, read and validated alone (two small ranged reads). Every module is described, whatever the
    /// base model's layers: admission then names what does not belong (the upload path bounded the header's cost already).
    /// </summary>
    /// <exception cref="AdapterFormatException"/>
    /// <exception cref="ContentStoreException"/>
    public static async Task<AdapterDescription> DescribeAsync(IContentStore store, StoredUpdate reference, string source)
    {
        if (Described.TryGetValue(reference, out var known)) return known;
        var first = await store.ReadRangeAsync(reference, 0, (int)Math.Min(AdapterPayload.LengthPrefixBytes, reference.Size));
        int length = AdapterPayload.PrefixLength(first, reference.Size, source: source);
        var prefix = await store.ReadRangeAsync(reference, 0, length);
        var description = AdapterPayload.Describe(prefix, reference.Size, source);
        if (Described.TryAdd(reference, description) && Interlocked.Add(ref s_describedModules, description.Modules.Count) > MaxDescribedModules)
        {
            Described.Clear();
            Interlocked.Exchange(ref s_describedModules, 0);
        }
        return description;
    }

    /// <summary>
    /// Descriptions this process parsed. A payload's bytes never change under its reference, so a round's worker and its shards
    /// on one silo parse each update's header once, not once each: three parses of every header per round on one silo were
    /// 14% of its aggregation's CPU (perf, deploy/benchmark.sh ingest). Bounded by the modules they describe (tens of MB at
    /// most); cleared when full.
    /// </summary>
    static readonly ConcurrentDictionary<StoredUpdate, AdapterDescription> Described = new();
    const int MaxDescribedModules = 1 << 16;
    static int s_describedModules;

    /// <summary>
    /// The named modules. A compressed payload is read whole and decompressed (its modules are not laid out apart), then
    /// only the named modules are kept.
    /// </summary>
    public static async Task<LoraAdapter> ReadAsync(IContentStore store, StoredUpdate reference, AdapterDescription description, IReadOnlyList<string> modules, string source)
    {
        if (description.Compression is null)
            return await AdapterPayload.ReadModulesAsync(description, modules, (offset, destinations) => store.ReadRangeIntoAsync(reference, offset, destinations));
        using var whole = AdapterPayload.Read(await store.ReadAsync(reference), source);
        return new LoraAdapter(modules.Select(n => whole[n].Clone()), whole.BaseModel);
    }

    /// <summary>Every module of a plain payload, by ranges: nothing of it is held twice, and its size is not bounded by an array's.</summary>
    public static async Task<LoraAdapter> ReadAllAsync(IContentStore store, StoredUpdate reference, string source)
    {
        var description = await DescribeAsync(store, reference, source);
        return await ReadAsync(store, reference, description, [.. description.Modules.Select(m => m.Name)], source);
    }

    /// <summary>
    /// Stores what <paramref name="write"/> writes, as it writes it: through a pipe of a few MiB into the store (which hashes as
    /// it reads), never a whole payload in memory.
    /// </summary>
    public static async Task<StoredUpdate> PutAsync(IContentStore store, Action<Stream> write, CancellationToken cancellationToken = default)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: PipeBytes, resumeWriterThreshold: PipeBytes / 2, useSynchronizationContext: false));
        // The writer is synchronous (safetensors is written in order) and blocks while the pipe is full: on its own thread.
        var writing = Task.Run(async () =>
        {
            try
            {
                using (var stream = pipe.Writer.AsStream(leaveOpen: true)) write(stream);
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
            }
        }, CancellationToken.None);
        try
        {
            await using var reading = pipe.Reader.AsStream(leaveOpen: true);
            return await store.PutAsync(reading, cancellationToken);
        }
        finally
        {
            await pipe.Reader.CompleteAsync(); // a store that stopped reading releases a writer waiting on the full pipe
            await writing;
        }
    }

    /// <summary>An adapter as a payload (see <see cref="AdapterPayload.Write(Stream, LoraAdapter, IReadOnlyDictionary{string, string}?)"/>), streamed into the store.</summary>
    public static Task<StoredUpdate> PutAsync(IContentStore store, LoraAdapter adapter, IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default) =>
        PutAsync(store, stream => AdapterPayload.Write(stream, adapter, metadata), cancellationToken);

    const int PipeBytes = 4 << 20;
}
