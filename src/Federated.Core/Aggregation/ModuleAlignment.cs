using System.Runtime.ExceptionServices;
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
        for (int k = 1; k < updates.Count; k++)
        {
            var missing = reference.Modules.Select(m => m.Name).Where(n => !updates[k].Contains(n)).ToList();
            var extra = updates[k].Modules.Select(m => m.Name).Where(n => !reference.Contains(n)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new IncompatibleAdaptersException(
                    $"update {k} adapts different modules than update 0: " +
                    (missing.Count > 0 ? $"missing {Describe(missing)}" : "") +
                    (missing.Count > 0 && extra.Count > 0 ? ", " : "") +
                    (extra.Count > 0 ? $"extra {Describe(extra)}" : ""));
        }

        var aligned = new List<LoraModule[]>(reference.Modules.Count);
        foreach (var m in reference.Modules)
        {
            var column = updates.Select(u => u[m.Name]).ToArray();
            for (int k = 1; k < column.Length; k++)
                if (column[k].InFeatures != m.InFeatures || column[k].OutFeatures != m.OutFeatures)
                    throw new IncompatibleAdaptersException(
                        $"module '{m.Name}': update {k} is {column[k].OutFeatures}x{column[k].InFeatures} but update 0 is {m.OutFeatures}x{m.InFeatures}");
            aligned.Add(column);
        }
        return aligned;
    }

    /// <summary>
    /// Aligns the updates and builds one global module per module from its column, modules in parallel up to the number
    /// of cores (each is independent; memory-bound work gains from both channels, and more at once would only hold more
    /// modules' work in memory). The first error wins and whatever was built is disposed.
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
            Parallel.For(0, columns.Count, Bounded, i =>
            {
                // The modules already keep every core busy: a module's own libtorch calls stay on its worker's thread.
                using (NativeThreads.OnePerWorker()) modules[i] = combine(columns[i], scan?.Column(i) ?? default);
            });
        }
        catch (AggregateException e)
        {
            foreach (var m in modules) m?.Dispose();
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return new LoraAdapter(modules!, baseModel);
    }

    /// <summary>At most one worker per core.</summary>
    public static ParallelOptions Bounded => new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    static string Describe(List<string> names) =>
        names.Count <= 3 ? string.Join(", ", names.Select(n => $"'{n}'")) : $"'{names[0]}' and {names.Count - 1} more";
}
