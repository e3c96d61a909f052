using static TorchSharp.torch;

namespace Federated.Core.Adapters;

/// <summary>
/// A LoRA adapter: named modules in a stable order, plus what identifies the base model it applies to.
/// Owns its modules. Ranks and alphas may differ per module (PEFT's rank_pattern / alpha_pattern).
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    readonly Dictionary<string, LoraModule> _byName;

    public LoraAdapter(IEnumerable<LoraModule> modules, string? baseModel = null)
    {
        Modules = modules.ToList();
        if (Modules.Count == 0)
            throw new AdapterShapeException("an adapter needs at least one module");
        _byName = new Dictionary<string, LoraModule>(StringComparer.Ordinal);
        foreach (var m in Modules)
            if (!_byName.TryAdd(m.Name, m))
                throw new AdapterShapeException($"module '{m.Name}' appears twice");
        if (Modules.Select(m => m.UseRsLora).Distinct().Count() > 1)
            throw new AdapterShapeException("modules disagree on use_rslora");
        BaseModel = baseModel;
        DType = Modules.Select(m => m.DType).Distinct().Count() == 1 ? Modules[0].DType : ScalarType.Float32;
    }

    public IReadOnlyList<LoraModule> Modules { get; }
    public string? BaseModel { get; }

    public LoraModule this[string name] => _byName.TryGetValue(name, out var m)
        ? m : throw new KeyNotFoundException($"the adapter has no module '{name}'");

    public bool Contains(string name) => _byName.ContainsKey(name);
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out LoraModule? module) => _byName.TryGetValue(name, out module);
    public bool UseRsLora => Modules[0].UseRsLora;

    /// <summary>The dtype of the modules if they share one, else float32.</summary>
    public ScalarType DType { get; }

    /// <summary>The rank used by most modules (PEFT's <c>r</c>); the others go into rank_pattern.</summary>
    public int PredominantRank => Modules.GroupBy(m => m.Rank).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First().Key;

    /// <summary>The distinct last path segments (PEFT's <c>target_modules</c>), sorted.</summary>
    public IReadOnlyList<string> TargetModules => Modules.Select(m => m.TargetName).Distinct().Order(StringComparer.Ordinal).ToList();

    public long ParameterCount => Modules.Sum(m => m.A.numel() + m.B.numel());

    public LoraAdapter Clone() => new(Modules.Select(m => m.Clone()), BaseModel);

    /// <summary>A copy with every factor converted to <paramref name="dtype"/>.</summary>
    public LoraAdapter To(ScalarType dtype)
    {
        using var scope = NewDisposeScope(); // holds the chains' temporaries (see LoraModule.Clone)
        return new(Modules.Select(m => m.With(m.A.to(dtype).detach().clone().MoveToOuterDisposeScope(),
            m.B.to(dtype).detach().clone().MoveToOuterDisposeScope(), m.Alpha)).ToList(), BaseModel);
    }

    /// <summary>
    /// The same adapter, value for value: base model, modules in order with their names, alphas, rsLoRA flag, dtypes and
    /// factors (so its payload is the same bytes).
    /// </summary>
    public bool SameAs(LoraAdapter other) =>
        BaseModel == other.BaseModel && Modules.Count == other.Modules.Count && Modules.Zip(other.Modules).All(p =>
            p.First.Name == p.Second.Name && p.First.Alpha == p.Second.Alpha && p.First.UseRsLora == p.Second.UseRsLora &&
            SameValues(p.First.A, p.Second.A) && SameValues(p.First.B, p.Second.B));

    static bool SameValues(Tensor x, Tensor y)
    {
        if (x.dtype != y.dtype || !x.shape.SequenceEqual(y.shape)) return false;
        using var scope = NewDisposeScope();
        return x.equal(y).all().item<bool>();
    }

    public void Dispose()
    {
        foreach (var m in Modules) m.Dispose();
    }
}
