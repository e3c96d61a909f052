using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Storage;
using Grpc.Core;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Sits between a completed upload and the update store: a payload that is not an adapter this client may
/// submit in this round (malformed, other modules, another base model, rank above its assignment) is refused
/// with InvalidArgument before anything is stored.
/// </summary>
sealed class UploadValidation(IUpdateStore store, Assignment assignment) : IUpdateStore
{
    public async Task<UpdateReference> PutAsync(Stream content, CancellationToken cancellationToken = default)
    {
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken);
        Check(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
        buffer.Position = 0;
        return await store.PutAsync(buffer, cancellationToken);
    }

    void Check(ReadOnlyMemory<byte> payload)
    {
        LoraAdapter adapter;
        try
        {
            adapter = AdapterPayload.Read(payload, "the uploaded adapter");
        }
        catch (AdapterFormatException e)
        {
            throw AgentStatus.Invalid($"malformed adapter: {e.Message}");
        }
        using (adapter)
        {
            if (adapter.BaseModel is { } trainedOn && trainedOn != assignment.BaseModel)
                throw AgentStatus.Invalid($"the adapter was trained on '{trainedOn}', the federation's base model is '{assignment.BaseModel}'");
            var foreign = adapter.TargetModules.Except(assignment.TargetModules).ToList();
            if (foreign.Count > 0)
                throw AgentStatus.Invalid($"the adapter adapts {string.Join(", ", foreign)}; the federation's target modules are {string.Join(", ", assignment.TargetModules)}");
            if (adapter.Modules.FirstOrDefault(m => m.Rank > assignment.Rank) is { } tooHigh)
                throw AgentStatus.Invalid($"module '{tooHigh.Name}' has rank {tooHigh.Rank}, above the assigned rank {assignment.Rank}");
        }
    }

    public Task<byte[]> ReadAsync(UpdateReference reference, CancellationToken cancellationToken = default) => store.ReadAsync(reference, cancellationToken);
    public Task<Stream> OpenReadAsync(UpdateReference reference, long offset = 0, CancellationToken cancellationToken = default) => store.OpenReadAsync(reference, offset, cancellationToken);
    public Task<bool> ContainsAsync(UpdateReference reference, CancellationToken cancellationToken = default) => store.ContainsAsync(reference, cancellationToken);
    public Task DeleteAsync(UpdateReference reference, CancellationToken cancellationToken = default) => store.DeleteAsync(reference, cancellationToken);
}
