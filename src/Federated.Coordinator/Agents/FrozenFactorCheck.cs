using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Federation;
using Federated.Core.Formats;
using Federated.Grains.Aggregation;
using Federated.Storage;
using static TorchSharp.torch;

namespace Federated.Coordinator.Agents;

/// <summary>
/// The bytes of a plain upload after its header, checked as they flow past when the round freezes A: each module's A is
/// gathered from its byte range and, once whole, compared (<see cref="UpdateAdmission.CheckFrozen(string, Tensor, Tensor?)"/>)
/// with the A of the init the client was handed, read by range. An upload of any size holds one module's A at a time. A
/// changed A fails the read with InvalidArgument, so whatever reads this stream (the store) keeps nothing.
/// </summary>
sealed class FrozenFactorCheck : ForwardOnlyReadStream
{
    readonly Stream _rest;
    readonly IContentStore _store;
    readonly StoredUpdate _init;
    readonly AdapterDescription _frozen;
    readonly Queue<AdapterModuleInfo> _pending; // in the order their A lies in the payload
    byte[]? _a; // the first pending module's A, while it is gathered
    long _position;

    FrozenFactorCheck(Stream rest, AdapterDescription upload, IContentStore store, StoredUpdate init, AdapterDescription frozen)
    {
        (_rest, _store, _init, _frozen, _position) = (rest, store, init, frozen, upload.HeaderBytes);
        _pending = new(upload.Modules.OrderBy(m => m.Data!.ABegin));
    }

    /// <param name="rest">The upload after its header.</param>
    /// <param name="upload">The upload's header, already admitted: a plain payload.</param>
    public static async Task<FrozenFactorCheck> StartAsync(Stream rest, AdapterDescription upload, IContentStore store, StoredUpdate init)
    {
        string source = $"init {init}";
        var frozen = await PayloadModules.DescribeAsync(store, init, source);
        return new FrozenFactorCheck(rest, upload, store, init, frozen);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await _rest.ReadAsync(buffer, cancellationToken);
        long start = _position;
        _position += read;
        while (_pending.TryPeek(out var m) && m.Data!.ABegin < _position)
        {
            var (begin, end) = (m.Data.ABegin, m.Data.AEnd);
            long from = Math.Max(begin, start), to = Math.Min(end, _position);
            _a ??= new byte[end - begin];
            if (to > from) buffer.Span[(int)(from - start)..(int)(to - start)].CopyTo(_a.AsSpan((int)(from - begin)));
            if (end > _position) break; // the rest of this A comes with the next reads
            _pending.Dequeue();
            var a = _a;
            _a = null;
            await CheckAsync(m, a);
        }
        return read;
    }

    async Task CheckAsync(AdapterModuleInfo m, byte[] bytes)
    {
        using var frozen = _frozen.Modules.Any(f => f.Name == m.Name)
            ? await PayloadModules.ReadAsync(_store, _init, _frozen, [m.Name], $"init {_init}") : null;
        using var a = empty([m.Rank, m.InFeatures], m.DType);
        bytes.AsSpan().CopyTo(a.bytes);
        if (UpdateAdmission.CheckFrozen(m.Name, a, frozen?[m.Name].A) is { } refusal) throw AgentStatus.Invalid(refusal.Message);
    }
}
