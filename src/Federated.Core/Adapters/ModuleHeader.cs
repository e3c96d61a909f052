namespace Federated.Core.Adapters;

/// <summary>One module of an update as its header declares it: what layout checks and module sharding need, without the factors.</summary>
public sealed record ModuleHeader(string Name, int Rank, int InFeatures, int OutFeatures)
{
    public static IReadOnlyList<ModuleHeader> Of(LoraAdapter adapter) =>
        adapter.Modules.Select(m => new ModuleHeader(m.Name, m.Rank, m.InFeatures, m.OutFeatures)).ToList();
}
