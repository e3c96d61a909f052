using Federated.Core.Adapters;
using Federated.Core.Runtime;
using Federated.Training.Lora;
using Federated.Training.Models;
using static TorchSharp.torch;

namespace Federated.Training.Rounds;

/// <summary>
/// Keeps a model's base weights equal to base + a federation's merged history (W += s B A, oldest first), merging only
/// the deltas it does not hold yet. The weights a merge changes are snapshotted first, so a different history (another
/// federation's, or one re-factored) starts again from the pristine base.
/// </summary>
public sealed class MergedHistory(LlamaForCausalLM model) : IDisposable
{
    readonly Dictionary<string, Tensor> _pristine = new(StringComparer.Ordinal);
    readonly List<string> _merged = [];

    /// <summary>The keys of the deltas merged, oldest first.</summary>
    public IReadOnlyList<string> Merged => _merged;

    /// <param name="deltas">(a key naming the delta's content, e.g. its SHA-256; how to load it), oldest first.</param>
    public void Apply(IReadOnlyList<(string Key, Func<LoraAdapter> Load)> deltas)
    {
        using var work = NativeWork.Enter();
        LoraInjection.Remove(model);
        bool extends = _merged.Count <= deltas.Count && _merged.SequenceEqual(deltas.Take(_merged.Count).Select(d => d.Key));
        if (!extends) Restore();
        foreach (var (key, load) in deltas.Skip(_merged.Count))
        {
            using var delta = load();
            Snapshot(delta);
            LoraInjection.Merge(model, delta);
            _merged.Add(key);
        }
    }

    /// <summary>Keeps a CPU copy of each weight the delta is about to change, the first time only.</summary>
    void Snapshot(LoraAdapter delta)
    {
        var layers = model.Projections().ToDictionary(p => p.Name, p => p.Layer);
        foreach (var m in delta.Modules)
            if (!_pristine.ContainsKey(m.Name) && layers.TryGetValue(m.Name, out var layer))
            {
                using var scope = NewDisposeScope(); // holds the chain's temporaries (see LoraInjection.Export)
                _pristine[m.Name] = layer.Weight.detach().cpu().clone().MoveToOuterDisposeScope();
            }
    }

    void Restore()
    {
        var layers = model.Projections().ToDictionary(p => p.Name, p => p.Layer);
        using (no_grad())
            foreach (var (name, weight) in _pristine) layers[name].Weight.copy_(weight);
        _merged.Clear();
    }

    public void Dispose()
    {
        foreach (var t in _pristine.Values) t.Dispose();
        _pristine.Clear();
    }
}
