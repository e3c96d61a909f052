using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Training.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Lora;

/// <summary>
/// Puts LoRA branches on a model's linear layers by PEFT target names (q_proj, v_proj, ...), freezes the
/// base, and moves branches in and out as <see cref="LoraAdapter"/>s (module names are HF paths such as
/// <c>model.layers.0.self_attn.q_proj</c>, as in PEFT's files).
/// </summary>
public static class LoraInjection
{
    public static readonly IReadOnlyList<string> TargetNames = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Fresh branches (A Kaiming-uniform, B = 0) on every targeted layer; every base parameter frozen.</summary>
    public static void Inject(LlamaForCausalLM model, IEnumerable<string> targets, int rank, double alpha,
        double dropout = 0, bool useRsLora = false, long seed = 0)
    {
        if (rank <= 0) throw new ArgumentException($"rank must be positive, got {rank}");
        var wanted = targets.ToHashSet(StringComparer.Ordinal);
        var unknown = wanted.Except(TargetNames).ToList();
        if (wanted.Count == 0 || unknown.Count > 0)
            throw new ArgumentException(wanted.Count == 0 ? "no target modules given" :
                $"unknown target module '{unknown[0]}' (a Llama-family decoder has {string.Join(", ", TargetNames)})");
        Freeze(model);
        using var generator = new Generator((ulong)seed);
        foreach (var (name, layer) in model.Projections().Where(p => wanted.Contains(TargetName(p.Name))))
            layer.Attach(LoraBranch.Fresh(layer.InFeatures, layer.OutFeatures, rank, alpha, useRsLora, dropout, generator, layer.Weight.device));
    }

    /// <summary>The trainable tensors: every branch's A and B, or only B (<paramref name="freezeA"/>: A stops taking gradients).</summary>
    public static IReadOnlyList<Parameter> TrainableParameters(LlamaForCausalLM model, bool freezeA = false)
    {
        var branches = model.Projections().Where(p => p.Layer.Lora is not null).Select(p => p.Layer.Lora!).ToList();
        if (!freezeA) return branches.SelectMany(b => new[] { b.A, b.B }).ToList();
        foreach (var b in branches) b.A.requires_grad = false;
        return branches.Select(b => b.B).ToList();
    }

    /// <summary>A snapshot of the branches as an adapter (factors copied, float32).</summary>
    public static LoraAdapter Export(LlamaForCausalLM model, string? baseModel = null)
    {
        var modules = model.Projections().Where(p => p.Layer.Lora is not null).Select(p =>
        {
            var lora = p.Layer.Lora!;
            // In a scope, which holds the chain's temporaries: one left to the finalizer can be freed while libtorch reads it.
            using var scope = NewDisposeScope();
            return new LoraModule(p.Name, lora.A.detach().cpu().clone().MoveToOuterDisposeScope(), lora.B.detach().cpu().clone().MoveToOuterDisposeScope(),
                lora.Alpha, lora.UseRsLora);
        }).ToList();
        if (modules.Count == 0) throw new InvalidOperationException("the model carries no LoRA branches");
        return new LoraAdapter(modules, baseModel);
    }

    /// <summary>Attaches the adapter's modules as trainable branches (copies); other layers keep theirs.</summary>
    public static void Import(LlamaForCausalLM model, LoraAdapter adapter, double dropout = 0)
    {
        var layers = Layers(model, adapter);
        Freeze(model);
        foreach (var m in adapter.Modules)
        {
            var layer = layers[m.Name];
            using var scope = NewDisposeScope(); // holds the chains' temporaries (see Export)
            var a = m.A.to(float32, layer.Weight.device).detach().clone().MoveToOuterDisposeScope();
            var b = m.B.to(float32, layer.Weight.device).detach().clone().MoveToOuterDisposeScope();
            layer.Attach(new LoraBranch(a, b, m.Alpha, m.UseRsLora, dropout));
        }
    }

    /// <summary>W &lt;- W + s B A for every module of the adapter (e.g. a round's global FLoRA stack).</summary>
    public static void Merge(LlamaForCausalLM model, LoraAdapter adapter)
    {
        var layers = Layers(model, adapter);
        foreach (var m in adapter.Modules) LoraMerge.MergeInto(layers[m.Name].Weight, m);
    }

    /// <summary>Removes every branch.</summary>
    public static void Remove(LlamaForCausalLM model)
    {
        foreach (var (_, layer) in model.Projections()) layer.Detach();
    }

    static void Freeze(LlamaForCausalLM model)
    {
        foreach (var p in model.parameters()) p.requires_grad = false;
    }

    static Dictionary<string, LoraLinear> Layers(LlamaForCausalLM model, LoraAdapter adapter)
    {
        var layers = model.Projections().ToDictionary(p => p.Name, p => p.Layer);
        foreach (var m in adapter.Modules)
        {
            if (!layers.TryGetValue(m.Name, out var layer))
                throw new AdapterShapeException($"the adapter's module '{m.Name}' is not a linear layer of this model");
            if (layer.InFeatures != m.InFeatures || layer.OutFeatures != m.OutFeatures)
                throw new AdapterShapeException($"module '{m.Name}' is {m.OutFeatures}x{m.InFeatures} but the model's layer is {layer.OutFeatures}x{layer.InFeatures}");
        }
        return layers;
    }

    static string TargetName(string path) => path[(path.LastIndexOf('.') + 1)..];
}
