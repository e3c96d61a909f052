using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Federation;
using Federated.Core.Formats;
using Federated.Grains;
using Federated.Grains.Aggregation;
using Federated.Grains.Federations;
using Federated.Storage;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Sits between a completed upload and the update store: a payload that is not an adapter this client may
/// submit in this round (malformed, or refused by <see cref="UpdateAdmission"/>: another base model, modules or shapes
/// other than the base model's, rank above its assignment or other than declared, a changed frozen factor) is refused
/// with InvalidArgument naming the module and both shapes, before anything is stored.
/// <para>
/// Streaming: only the safetensors header is read and checked (<see cref="AdapterPayload.Describe(ReadOnlyMemory{byte}, long, string)"/>:
/// everything a full read checks of a plain payload), then the header and the rest of the bytes flow on into the store,
/// so memory per upload is the header's plus the store's copy buffer, not the payload's. A compressed payload declares the
/// shapes it decompresses to in its header, so it is admitted or refused on them (and on its dense size against
/// <c>Coordinator:MaxUpdateBytes</c>) like a plain one, before anything is read whole or decompressed; then it is read
/// whole (it is a fraction of a plain payload's size) to check its values, and decompression refuses any other shapes.
/// When the round freezes A, a plain payload's A factors are compared with the client's init as they flow on
/// (<see cref="FrozenFactorCheck"/>: one module's A in memory at a time); a changed one fails the put.
/// Staged bytes the store adopts (<see cref="TryAdoptAsync"/>) are checked the same way, read where they are staged, before
/// the store takes them.
/// </para>
/// </summary>
/// <param name="size">The declared size: the staging delivers exactly these bytes or fails the put with a hash mismatch.</param>
/// <param name="declaredRank">The upload header's rank: the payload's must be the same.</param>
/// <param name="maxDenseBytes">The most bytes an update's factors may take once read: a compressed payload may not expand beyond it.</param>
sealed class UploadValidation(IContentStore store, Assignment assignment, long size, int declaredRank, long maxDenseBytes) : IAdoptingContentStore
{
    /// <summary>
    /// A header bigger than this is refused: it is read into memory before any check. Real headers are tens of KB
    /// (about 150 bytes per tensor); the safetensors limit of 100 MB would let each upload pin that much.
    /// </summary>
    public const int MaxHeaderBytes = 16 << 20;
    const string Source = "the uploaded adapter";

    public async Task<StoredUpdate> PutAsync(Stream content, CancellationToken cancellationToken = default)
    {
        var (prefix, description) = await ReadHeaderAsync(content, cancellationToken);
        Check(description); // structure, shapes and dense size, from the header alone
        if (description.Compression is not null)
        {
            var buffer = await ReadWholeAsync(prefix, content, cancellationToken);
            buffer.Position = 0;
            return await store.PutAsync(buffer, cancellationToken);
        }
        return await store.PutAsync(new PrefixedStream(prefix, await CheckedAsFlowingAsync(description, content)), cancellationToken);
    }

    public async Task<StoredUpdate?> TryAdoptAsync(IStagedPayload staged, CancellationToken cancellationToken = default)
    {
        if (store is not IAdoptingContentStore adopting) return null; // the staging puts the bytes instead, through PutAsync's checks
        await using (var content = await staged.OpenReadAsync(cancellationToken))
        {
            var (prefix, description) = await ReadHeaderAsync(content, cancellationToken);
            Check(description);
            if (description.Compression is not null)
                await (await ReadWholeAsync(prefix, content, cancellationToken)).DisposeAsync();
            else if (assignment.FreezeA)
                await (await CheckedAsFlowingAsync(description, content)).CopyToAsync(Stream.Null, cancellationToken);
        }
        return await adopting.TryAdoptAsync(staged, cancellationToken);
    }

    async Task<(byte[] Prefix, AdapterDescription Description)> ReadHeaderAsync(Stream content, CancellationToken cancellationToken)
    {
        try
        {
            var first = new byte[AdapterPayload.LengthPrefixBytes];
            int got = await content.ReadAtLeastAsync(first, first.Length, throwOnEndOfStream: false, cancellationToken);
            var prefix = new byte[AdapterPayload.PrefixLength(first.AsSpan(0, got), size, MaxHeaderBytes, Source)];
            first.CopyTo(prefix, 0);
            await content.ReadExactlyAsync(prefix.AsMemory(first.Length), cancellationToken);
            return (prefix, AdapterPayload.Describe(prefix, size, Source, KnownModules()));
        }
        catch (AdapterFormatException e)
        {
            throw AgentStatus.Invalid($"malformed adapter: {e.Message}");
        }
    }

    /// <summary>The rest of a plain payload; when the round freezes A, each module's A is compared as it flows past.</summary>
    async Task<Stream> CheckedAsFlowingAsync(AdapterDescription description, Stream rest) =>
        assignment.FreezeA ? await FrozenFactorCheck.StartAsync(rest, description, store, FrozenInit()) : rest;

    /// <summary>Reads a compressed payload whose header passed whole and checks it with its values; returns its bytes.</summary>
    async Task<MemoryStream> ReadWholeAsync(byte[] prefix, Stream rest, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        buffer.Write(prefix);
        await rest.CopyToAsync(buffer, cancellationToken);
        LoraAdapter adapter;
        try
        {
            adapter = AdapterPayload.Read(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), Source, maxDenseBytes);
        }
        catch (AdapterFormatException e)
        {
            throw AgentStatus.Invalid($"malformed adapter: {e.Message}");
        }
        using (adapter)
        using (var frozen = assignment.FreezeA ? await ReadInitAsync() : null)
            Refuse(UpdateAdmission.Check(adapter, declaredRank, Rules(frozen)));
        return buffer;
    }

    async Task<LoraAdapter> ReadInitAsync()
    {
        var init = FrozenInit();
        return await PayloadModules.ReadAllAsync(store, init, $"init {init}");
    }

    StoredUpdate FrozenInit() => assignment.Init ??
        throw new RpcException(new Status(StatusCode.FailedPrecondition, "the round freezes A, but this client was handed no adapter to take it from"));

    /// <summary>The manifest's module names: the upload's PEFT patterns are matched against these only.</summary>
    IReadOnlySet<string>? KnownModules() =>
        BaseModelManifest.ModuleShapes(assignment.Architecture, assignment.TargetModules) is { } shapes ? shapes.Select(m => m.Name).ToHashSet(StringComparer.Ordinal) : null;

    void Check(AdapterDescription description) => Refuse(UpdateAdmission.Check(description, declaredRank, Rules(null)));

    AdmissionRules Rules(LoraAdapter? frozen) =>
        BaseModelManifest.Admission(assignment.BaseModel, assignment.TargetModules, assignment.Architecture, assignment.Rank, frozen)
            with { MaxDenseBytes = maxDenseBytes };

    static void Refuse(AdmissionRefusal? refusal)
    {
        if (refusal is not null) throw AgentStatus.Invalid(refusal.Message);
    }

    public Task<byte[]> ReadAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => store.ReadAsync(reference, cancellationToken);
    public Task<Stream> OpenReadAsync(StoredUpdate reference, long offset = 0, CancellationToken cancellationToken = default) => store.OpenReadAsync(reference, offset, cancellationToken);
    public Task<bool> ContainsAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => store.ContainsAsync(reference, cancellationToken);
    public Task DeleteAsync(StoredUpdate reference, CancellationToken cancellationToken = default) => store.DeleteAsync(reference, cancellationToken);

    /// <summary>The header already read for the checks, then the rest of the payload: the store sees the whole payload once.</summary>
    sealed class PrefixedStream(byte[] prefix, Stream rest) : ForwardOnlyReadStream
    {
        int _position;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position < prefix.Length) return CopyPrefix(buffer.Span);
            return await rest.ReadAsync(buffer, cancellationToken);
        }

        public override int Read(Span<byte> buffer) => _position < prefix.Length ? CopyPrefix(buffer) : rest.Read(buffer);

        int CopyPrefix(Span<byte> buffer)
        {
            int count = Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsSpan(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

    }
}
