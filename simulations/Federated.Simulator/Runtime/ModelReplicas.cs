using System.Threading.Channels;
using Federated.Training.Models;
using Federated.Training.Rounds;

namespace Federated.Simulator.Runtime;

/// <summary>
/// The frozen base model, once per concurrently training virtual client (bounded parallelism), not once per client,
/// each wrapped in the agent's <see cref="ClientRound"/>: a virtual client owns only its LoRA branches and optimiser
/// state while it trains, and each replica merges the federation's history itself, as an agent does.
/// </summary>
sealed class ModelReplicas : IDisposable
{
    readonly LlamaForCausalLM[] _models;
    readonly ClientRound[] _replicas;
    readonly Channel<ClientRound> _free;

    public ModelReplicas(string baseDirectory, int count, int padId)
    {
        _models = Enumerable.Range(0, count).Select(_ => HfCheckpoint.Load(baseDirectory)).ToArray();
        _replicas = _models.Select(m => new ClientRound(m, padId)).ToArray();
        _free = Channel.CreateBounded<ClientRound>(count);
        foreach (var replica in _replicas) _free.Writer.TryWrite(replica);
    }

    /// <summary>For evaluation between rounds, when no client trains.</summary>
    public ClientRound Any => _replicas[0];

    /// <summary>Runs <paramref name="work"/> on a free replica, on a thread-pool thread.</summary>
    public async Task<T> RunAsync<T>(Func<ClientRound, T> work, CancellationToken cancellation)
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
        foreach (var model in _models) model.Dispose();
    }
}
