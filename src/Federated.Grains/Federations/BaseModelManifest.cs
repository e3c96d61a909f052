using Federated.Contracts;
using Federated.Core.Adapters;
using Federated.Core.Federation;

namespace Federated.Grains.Federations;

/// <summary>What a federation pins of its base model: every target module with the dimensions its config.json gives.</summary>
public static class BaseModelManifest
{
    /// <summary>The target modules' shapes, or null when the federation pinned no architecture.</summary>
    public static IReadOnlyList<ModuleShape>? ModuleShapes(ModelArchitecture? architecture, IEnumerable<string> targetModules) =>
        architecture is not { } a ? null
            : ModuleShape.LlamaFamily(a.HiddenSize, a.NumHiddenLayers, targetModules, a.KeyValueDim, a.IntermediateSize);

    /// <summary>What an update from a client at <paramref name="assignedRank"/> must be to enter a round of this federation.</summary>
    public static AdmissionRules Admission(string baseModel, string[] targetModules, ModelArchitecture? architecture, int assignedRank, LoraAdapter? frozenA = null) =>
        new(baseModel, targetModules, ModuleShapes(architecture, targetModules), assignedRank, frozenA);
}
