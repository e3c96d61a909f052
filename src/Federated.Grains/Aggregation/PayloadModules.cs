using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;

namespace Federated.Grains.Aggregation;

/// <summary>Reads stored adapter payloads by parts: the header alone, or some modules' factors (byte ranges of a plain payload).</summary>
static class PayloadModules
{
    /// <summary>
    /// The payload's header, read and validated alone (two small ranged reads). Every module is described, whatever the
    /// base model's layers: admission then names what does not belong (the upload path bounded the header's cost already).
    /// </summary>
    /// <exception cref="AdapterFormatException"/>
    /// <exception cref="ContentStoreException"/>
    public static async Task<AdapterDescription> DescribeAsync(IContentStore store, StoredUpdate reference, string source)
    {
        var first = await store.ReadRangeAsync(reference, 0, (int)Math.Min(AdapterPayload.LengthPrefixBytes, reference.Size));
        int length = AdapterPayload.PrefixLength(first, reference.Size, source: source);
        var prefix = await store.ReadRangeAsync(reference, 0, length);
        return AdapterPayload.Describe(prefix, reference.Size, source);
    }

    /// <summary>
    /// The named modules. A compressed payload is read whole and decompressed (its modules are not laid out apart), then
    /// only the named modules are kept.
    /// </summary>
    public static async Task<LoraAdapter> ReadAsync(IContentStore store, StoredUpdate reference, AdapterDescription description, IReadOnlyList<string> modules, string source)
    {
        if (description.Compression is null)
            return await AdapterPayload.ReadModulesAsync(description, modules, (offset, count) => store.ReadRangeAsync(reference, offset, count));
        using var whole = AdapterPayload.Read(await store.ReadAsync(reference), source);
        return new LoraAdapter(modules.Select(n => whole[n].Clone()), whole.BaseModel);
    }
}
