using Federated.Core.Adapters;
using Federated.Core.Runtime;

namespace Federated.Core.Aggregation;

/// <summary>
/// Lines up the same module across clients, after checking that every client adapts the same modules
/// of the same base layer shapes. Module order follows the first client.
/// </summary>
public static class ModuleAlignment
{
    public static IReadOnlyList<LoraModule[]> Align(IReadOnlyList<LoraAdapter> updates)
    {
        var reference = updates[0];
        var aligned = reference.Modules.Select(_ => new LoraModule[updates.Count]).ToList();
        for (int k = 0; k < updates.Count; k++)
        {
            // The same count and every reference name present: the same set (names are unique within an adapter).
            var update = updates[k];
            bool same = update.Modules.Count == reference.Modules.Count;
            for (int i = 0; same && i < aligned.Count; i++)
                if (update.TryGet(reference.Modules[i].Name, out var module)) aligned[i][k] = module;
                else same = false;
            if (!same) throw DifferentModules(reference, update, k);
        }

        for (int i = 0; i < aligned.Count; i++)
        {
            var (m, column) = (reference.Modules[i], aligned[i]);
            for (int k = 1; k < column.Length; k++)
                if (column[k].InFeatures != m.InFeatures || column[k].OutFeatures != m.OutFeatures)
                    throw new IncompatibleAdaptersException(
                        $"module '{m.Name}': update {k} is {column[k].OutFeatures}x{column[k].InFeatures} but update 0 is {m.OutFeatures}x{m.InFeatures}");
        }
        return aligned;
    }

    static IncompatibleAdaptersException DifferentModules(LoraAdapter reference, LoraAdapter update, int k)
    {
        var missing = reference.Modules.Select(m => m.Name).Where(n => !update.Contains(n)).ToList();
        var extra = update.Modules.Select(m => m.Name).Where(n => !reference.Contains(n)).ToList();
        return new IncompatibleAdaptersException(
            $"update {k} adapts different modules than update 0: " +
            (missing.Count > 0 ? $"missing {Describe(missing)}" : "") +
            (missing.Count > 0 && extra.Count > 0 ? ", " : "") +
            (extra.Count > 0 ? $"extra {Describe(extra)}" : ""));
    }

    /// <summary>
    /// Aligns the updates and builds one global module per module from its column, modules in parallel on
    /// <see cref="CoreWorkers"/>, one thread per core (each is independent; memory-bound work gains from both channels, and
    /// more at once would only hold more modules' work in memory). The first error wins and whatever was built is disposed.
    /// </summary>
    public static LoraAdapter Combine(IReadOnlyList<LoraAdapter> updates, Func<LoraModule[], LoraModule> combine) =>
        Combine(updates, null, (column, _) => combine(column));

    /// <summary>As <see cref="Combine(IReadOnlyList{LoraAdapter}, Func{LoraModule[], LoraModule})"/>, handing each column its share of <paramref name="scan"/>.</summary>
    public static LoraAdapter Combine(IReadOnlyList<LoraAdapter> updates, UpdateScan? scan, Func<LoraModule[], ColumnScan, LoraModule> combine) =>
        Combine(Align(updates), updates[0].BaseModel, scan, combine);

    /// <summary>As <see cref="Combine(IReadOnlyList{LoraAdapter}, UpdateScan?, Func{LoraModule[], ColumnScan, LoraModule})"/>, for columns a caller already aligned.</summary>
    public static LoraAdapter Combine(IReadOnlyList<LoraModule[]> columns, string? baseModel, UpdateScan? scan, Func<LoraModule[], ColumnScan, LoraModule> combine)
    {
        var modules = new LoraModule?[columns.Count];
        try
        {
            CoreWorkers.For(columns.Count, i =>
                modules[i] = combine(columns[i], scan?.Column(i) ?? default));
        }
        catch
        {
            foreach (var m in modules) m?.Dispose();
            throw;
        }
        return new LoraAdapter(modules!, baseModel);
    }

    static string Describe(List<string> names) =>
        names.Count <= 3 ? string.Join(", ", names.Select(n => $"'{n}'")) : $"'{names[0]}' and {names.Count - 1} more";
}
