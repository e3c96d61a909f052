using Federated.Core.Adapters;
using Federated.Core.Formats;
using static TorchSharp.torch;

namespace Federated.Core.Federation;

/// <summary>Why an update was not admitted to a round.</summary>
public enum AdmissionError
{
    /// <summary>Trained on another base model.</summary>
    BaseModel,
    /// <summary>Adapts other modules than the federation's target modules of its base.</summary>
    ModuleSet,
    /// <summary>A module's dimensions differ from the base model's layer.</summary>
    Shape,
    /// <summary>A module's rank exceeds the client's assigned rank.</summary>
    RankAboveAssigned,
    /// <summary>The rank the upload declares is not the payload's.</summary>
    DeclaredRank,
    /// <summary>A factor holds NaN or infinity.</summary>
    NonFinite,
    /// <summary>A factor the strategy freezes differs from the one the client was handed.</summary>
    FrozenFactorChanged,
    /// <summary>The factors, read (a compressed payload: decompressed), would exceed the size limit.</summary>
    TooLarge,
}

public sealed record AdmissionRefusal(AdmissionError Error, string Message)
{
    public override string ToString() => Message;
}

/// <summary>What a round admits from one client.</summary>
/// <param name="Modules">Every target module of the base model with its dimensions (the base-model manifest); null when the federation pinned none, then only names are checked.</param>
/// <param name="FrozenA">The init the client was handed when the strategy freezes A: each upload's A must equal its A bit for bit.</param>
/// <param name="MaxDenseBytes">The most bytes the factors may take once read (decompressed): a compressed payload's expansion is bounded by it.</param>
public sealed record AdmissionRules(string BaseModel, IReadOnlyList<string> TargetModules, IReadOnlyList<ModuleShape>? Modules, int AssignedRank,
    LoraAdapter? FrozenA = null, long? MaxDenseBytes = null);

/// <summary>
/// The one check an update passes to enter a round, used by the upload path (on the header, before the bytes are stored),
/// the aggregation worker (on the read adapter) and the simulator. Shapes are compared with the base model's manifest,
/// never with other clients' updates, so a wrong majority cannot outvote a correct update.
/// </summary>
public static class UpdateAdmission
{
    /// <summary>The structural checks, from a payload's header alone.</summary>
    /// <param name="declaredRank">The rank the upload header states; null when there is none.</param>
    /// <remarks>A compressed payload is described by the shapes it decompresses to, so it is admitted or refused before it is expanded.</remarks>
    public static AdmissionRefusal? Check(AdapterDescription description, int? declaredRank, AdmissionRules rules) =>
        CheckStructure(description.BaseModel, description.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures)).ToList(),
            description.DenseBytes, declaredRank, rules);

    /// <summary>The structural checks, then finite values and frozen factors.</summary>
    public static AdmissionRefusal? Check(LoraAdapter update, int? declaredRank, AdmissionRules rules)
    {
        var structural = CheckStructure(update.BaseModel, update.Modules.Select(m => (m.Name, m.Rank, m.InFeatures, m.OutFeatures)).ToList(),
            update.Modules.Sum(m => m.A.NumberOfElements * m.A.ElementSize + m.B.NumberOfElements * m.B.ElementSize), declaredRank, rules);
        if (structural is not null) return structural;
        foreach (var m in update.Modules)
        {
            using var scope = NewDisposeScope();
            if (!m.A.isfinite().all().item<bool>() || !m.B.isfinite().all().item<bool>())
                return new(AdmissionError.NonFinite, $"module '{m.Name}' holds NaN or infinite values");
            if (rules.FrozenA is { } frozen && CheckFrozen(m, frozen) is { } changed) return changed;
        }
        return null;
    }

    /// <summary>A module's A against the frozen A the client was handed (a module shard checks its modules with it).</summary>
    public static AdmissionRefusal? CheckFrozen(LoraModule m, LoraAdapter frozen) =>
        CheckFrozen(m.Name, m.A, frozen.Contains(m.Name) ? frozen[m.Name].A : null);

    /// <summary>
    /// One module's A against its frozen A (null where the adapter the client was handed has no such module): the upload path
    /// checks each A as it streams past, without the rest of the update.
    /// </summary>
    public static AdmissionRefusal? CheckFrozen(string module, Tensor a, Tensor? frozenA)
    {
        if (frozenA is null)
            return new(AdmissionError.FrozenFactorChanged, $"module '{module}' has no frozen A in the adapter the client was handed");
        using var scope = NewDisposeScope();
        if (a.dtype != frozenA.dtype || !a.shape.SequenceEqual(frozenA.shape) || !a.eq(frozenA).all().item<bool>())
            return new(AdmissionError.FrozenFactorChanged, $"module '{module}': A differs from the frozen A the client was handed; this strategy trains B only");
        return null;
    }

    static AdmissionRefusal? CheckStructure(string? baseModel, IReadOnlyList<(string Name, int Rank, int In, int Out)> modules, long denseBytes,
        int? declaredRank, AdmissionRules rules)
    {
        if (baseModel is { } trainedOn && trainedOn != rules.BaseModel)
            return new(AdmissionError.BaseModel, $"the adapter was trained on '{trainedOn}', the federation's base model is '{rules.BaseModel}'");
        var foreign = modules.Select(m => TargetName(m.Name)).Distinct().Except(rules.TargetModules).ToList();
        if (foreign.Count > 0)
            return new(AdmissionError.ModuleSet, $"the adapter adapts {string.Join(", ", foreign)}; the federation's target modules are {string.Join(", ", rules.TargetModules)}");
        if (rules.Modules is { } expected)
        {
            var byName = modules.ToDictionary(m => m.Name, StringComparer.Ordinal);
            var missing = expected.Where(e => !byName.ContainsKey(e.Name)).Select(e => e.Name).ToList();
            var extra = modules.Select(m => m.Name).Except(expected.Select(e => e.Name)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                return new(AdmissionError.ModuleSet, "the adapter's modules are not the base model's target layers: " +
                    string.Join(", ", new[] { ModuleNames.Describe("missing", missing), ModuleNames.Describe("unknown", extra) }.Where(s => s.Length > 0)));
            foreach (var e in expected)
            {
                var m = byName[e.Name];
                if (m.In != e.InFeatures || m.Out != e.OutFeatures)
                    return new(AdmissionError.Shape, $"module '{e.Name}' is {m.Out}x{m.In}; the base model's layer is {e.OutFeatures}x{e.InFeatures}");
            }
        }
        if (denseBytes > rules.MaxDenseBytes)
            return new(AdmissionError.TooLarge, $"the adapter's factors take {denseBytes:N0} bytes once read, over the {rules.MaxDenseBytes:N0}-byte limit");
        foreach (var m in modules)
            if (m.Rank > rules.AssignedRank)
                return new(AdmissionError.RankAboveAssigned, $"module '{m.Name}' has rank {m.Rank}, above the assigned rank {rules.AssignedRank}");
        if (declaredRank is { } declared && modules.Count > 0 && modules.Max(m => m.Rank) is var actual && actual != declared)
            return new(AdmissionError.DeclaredRank, $"the upload declares rank {declared}, but the adapter's rank is {actual}");
        return null;
    }

    static string TargetName(string path) => path[(path.LastIndexOf('.') + 1)..];
}
