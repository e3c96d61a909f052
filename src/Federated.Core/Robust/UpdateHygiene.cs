using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Robust;

/// <summary>Why an update was left out of a round's aggregate.</summary>
public enum RejectionReason
{
    /// <summary>It adapts other modules than the round expects.</summary>
    ModuleSet,
    /// <summary>A module's base layer dimensions differ from the round's.</summary>
    Shape,
    /// <summary>A module's rank exceeds the rank the client was assigned.</summary>
    RankAboveAllowed,
    /// <summary>A factor holds NaN or infinity.</summary>
    NonFinite,
    /// <summary>||dW||_F exceeds the configured cap.</summary>
    NormAboveCap,
    /// <summary>A module shard could not read it, or refused its values (e.g. a frozen factor that changed).</summary>
    Inadmissible,
}

public sealed record Rejection(RejectionReason Reason, string Message);

/// <summary>What a round accepts. Without <see cref="ExpectedModules"/>, the module layout most updates share is expected.</summary>
public sealed record HygieneLimits(double? NormCap = null, IReadOnlyList<ModuleShape>? ExpectedModules = null);

/// <summary>
/// Checks run on every update before any rule (ALGORITHMS.md B5): module set and shapes, rank
/// within the client's assignment, finite values, norm cap. A rejected update is reported with its
/// reason and leaves the others untouched. The first three read only the header (<see cref="CheckLayout"/>); the
/// values are checked from an <see cref="UpdateScan"/> (<see cref="CheckValues"/>), which the aggregation fills while it
/// reads the factors for its own work, so the bytes are read once.
/// </summary>
public static class UpdateHygiene
{
    /// <returns>One entry per update: null when accepted.</returns>
    public static Rejection?[] Check(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<int?> allowedRanks, HygieneLimits limits)
    {
        var rejections = CheckLayout(updates, allowedRanks, limits);
        for (int k = 0; k < updates.Count; k++)
            if (rejections[k] is null)
            {
                var scan = UpdateScan.Of(updates[k]);
                rejections[k] = CheckValues(scan, 0, updates[k], limits.NormCap);
            }
        return rejections;
    }

    /// <summary>Module set, shapes and ranks: what the header tells. One entry per update: null when it passes.</summary>
    public static Rejection?[] CheckLayout(IReadOnlyList<LoraAdapter> updates, IReadOnlyList<int?> allowedRanks, HygieneLimits limits) =>
        CheckLayout(updates.Select(ModuleHeader.Of).ToList(), allowedRanks, limits);

    /// <summary>The layout checks from the updates' headers alone (a sharded aggregation decides them before any factor is read).</summary>
    public static Rejection?[] CheckLayout(IReadOnlyList<IReadOnlyList<ModuleHeader>> updates, IReadOnlyList<int?> allowedRanks, HygieneLimits limits)
    {
        var expected = limits.ExpectedModules ?? MostCommonLayout(updates);
        var positions = new Dictionary<string, int>(expected.Count, StringComparer.Ordinal);
        for (int i = 0; i < expected.Count; i++) positions.TryAdd(expected[i].Name, i);
        return updates.Select((u, k) => CheckLayout(u, allowedRanks[k], expected, positions)).ToArray();
    }

    /// <summary>Finite values and the norm cap, from <paramref name="scan"/>'s entry <paramref name="client"/> for <paramref name="update"/>.</summary>
    public static Rejection? CheckValues(UpdateScan scan, int client, LoraAdapter update, double? normCap) =>
        CheckValues(scan, client, update.Modules.Select(m => m.Name).ToList(), normCap);

    /// <param name="modules">The update's module names in its own order (the first non-finite one is named).</param>
    public static Rejection? CheckValues(UpdateScan scan, int client, IReadOnlyList<string> modules, double? normCap)
    {
        if (scan.FirstNonFinite(client, modules) is { } module)
            return new(RejectionReason.NonFinite, $"module '{module}' holds NaN or infinite values");
        if (normCap is { } cap)
        {
            double norm = scan.Norm(client);
            if (!(norm <= cap))
                return new(RejectionReason.NormAboveCap, $"||dW||_F = {norm:G4} exceeds the cap {cap:G4}");
        }
        return null;
    }

    /// <param name="positions">Each expected module's position in <paramref name="expected"/>, by name.</param>
    static Rejection? CheckLayout(IReadOnlyList<ModuleHeader> modules, int? allowedRank, IReadOnlyList<ModuleShape> expected, Dictionary<string, int> positions)
    {
        // Each expected module's header (an update's first of a name), and the names the round does not expect.
        var found = new ModuleHeader?[expected.Count];
        OrderedDictionary<string, bool>? extra = null;
        foreach (var m in modules)
        {
            if (positions.TryGetValue(m.Name, out int i)) found[i] ??= m;
            else (extra ??= new(StringComparer.Ordinal)).TryAdd(m.Name, true);
        }
        var missing = expected.Where(s => found[positions[s.Name]] is null).Select(s => s.Name).ToList();
        if (missing.Count > 0 || extra is not null)
            return new(RejectionReason.ModuleSet, "adapts different modules than the round: " +
                string.Join(", ", new[] { ModuleNames.Describe("missing", missing), ModuleNames.Describe("extra", extra?.Keys.ToList() ?? []) }.Where(s => s.Length > 0)));

        foreach (var s in expected)
        {
            var m = found[positions[s.Name]]!;
            if (m.InFeatures != s.InFeatures || m.OutFeatures != s.OutFeatures)
                return new(RejectionReason.Shape, $"module '{s.Name}' is {m.OutFeatures}x{m.InFeatures}, the round expects {s.OutFeatures}x{s.InFeatures}");
            if (allowedRank is { } allowed && m.Rank > allowed)
                return new(RejectionReason.RankAboveAllowed, $"module '{s.Name}' has rank {m.Rank}, above the assigned rank {allowed}");
        }

        return null;
    }

    /// <summary>The layout most updates share; ties go to the layout seen first. Compared field by field, not as text: this runs per round on every update.</summary>
    static List<ModuleShape> MostCommonLayout(IReadOnlyList<IReadOnlyList<ModuleHeader>> updates)
    {
        var layouts = new List<(IReadOnlyList<ModuleHeader> Layout, int Count)>();
        foreach (var u in updates)
        {
            int i = layouts.FindIndex(l => SameLayout(l.Layout, u));
            if (i < 0) layouts.Add((u, 1));
            else layouts[i] = (layouts[i].Layout, layouts[i].Count + 1);
        }
        return layouts.MaxBy(l => l.Count).Layout.Select(m => new ModuleShape(m.Name, m.InFeatures, m.OutFeatures)).ToList(); // MaxBy keeps the first of equal counts
    }

    /// <summary>The same names and base layer shapes in the same order (ranks may differ).</summary>
    static bool SameLayout(IReadOnlyList<ModuleHeader> a, IReadOnlyList<ModuleHeader> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
            if (a[i].InFeatures != b[i].InFeatures || a[i].OutFeatures != b[i].OutFeatures || !string.Equals(a[i].Name, b[i].Name, StringComparison.Ordinal))
                return false;
        return true;
    }
}
