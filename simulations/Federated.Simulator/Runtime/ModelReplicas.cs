using System.Threading.Channels;
using Federated.Core.Adapters;
using Federated.Training.Lora;
using Federated.Training.Models;

namespace Federated.Simulator.Runtime;

/// <summary>
/// The frozen base model, once per concurrently training virtual client (bounded parallelism), not once per
/// client: a virtual client owns only its LoRA branches and optimiser state while it trains. Every replica
/// takes each round's global adapter into its base weights.
/// </summary>
sealed class ModelReplicas : IDisposable
{
    readonly LlamaForCausalLM[] _replicas;
    readonly Channel<LlamaForCausalLM> _free;

    public ModelReplicas(string baseDirectory, int count)
    {
        _replicas = Enumerable.Range(0, count).Select(_ => HfCheckpoint.Load(baseDirectory)).ToArray();
        _free = Channel.CreateBounded<LlamaForCausalLM>(count);
        foreach (var replica in _replicas) _free.Writer.TryWrite(replica);
    }

    /// <summary>For evaluation between rounds, when no client trains.</summary>
    public LlamaForCausalLM Any => _replicas[0];

    public void Merge(LoraAdapter global)
    {
        foreach (var replica in _replicas) LoraInjection.Merge(replica, global);
    }

    /// <summary>Runs <paramref name="work"/> on a free replica, on a thread-pool thread.</summary>
    public async Task<T> RunAsync<T>(Func<LlamaForCausalLM, T> work, CancellationToken cancellation)
    {
        var replica = await _free.Reader.ReadAsync(cancellation);
        try
        {
            return await Task.Run(() => work(replica), cancellation);
        }
        finally
        {
            _free.Writer.TryWrite(replica);
        }
    }

    public void Dispose()
    {
        foreach (var replica in _replicas) replica.Dispose();
    }
}
