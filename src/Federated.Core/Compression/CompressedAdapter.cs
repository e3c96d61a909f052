using Federated.Core.Adapters;

namespace Federated.Core.Compression;

/// <summary>
/// A compressed LoRA adapter, as a client uploads it: modules in order, one scheme for all factors.
/// Owns its modules. The coordinator <see cref="Decompress"/>es it before any aggregation.
/// </summary>
public sealed class CompressedAdapter : IDisposable
{
    internal CompressedAdapter(CompressionScheme scheme, IEnumerable<CompressedModule> modules, string? baseModel)
    {
        Modules = modules.ToList();
        if (Modules.Count == 0)
            throw new AdapterShapeException("an adapter needs at least one module");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in Modules)
        {
            if (!names.Add(m.Name))
                throw new AdapterShapeException($"module '{m.Name}' appears twice");
            if (m.A.Scheme != scheme)
                throw new AdapterShapeException($"module '{m.Name}' is {CompressionSchemes.Name(m.A.Scheme)}, not {CompressionSchemes.Name(scheme)}");
        }
        if (Modules.Select(m => m.UseRsLora).Distinct().Count() > 1)
            throw new AdapterShapeException("modules disagree on use_rslora");
        Scheme = scheme;
        BaseModel = baseModel;
    }

    public CompressionScheme Scheme { get; }
    public IReadOnlyList<CompressedModule> Modules { get; }
    public string? BaseModel { get; }
    public bool UseRsLora => Modules[0].UseRsLora;

    /// <summary>Payload bytes against float32 factors, over all modules.</summary>
    public CompressionStats Stats => Modules.Aggregate(default(CompressionStats), (sum, m) => sum + m.Stats);

    /// <summary>The adapter with dense float32 factors, whatever dtype was compressed.</summary>
    public LoraAdapter Decompress()
    {
        var modules = new List<LoraModule>(Modules.Count);
        try
        {
            foreach (var m in Modules) modules.Add(m.Decompress());
            return new LoraAdapter(modules, BaseModel);
        }
        catch
        {
            foreach (var m in modules) m.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var m in Modules) m.Dispose();
    }
}
