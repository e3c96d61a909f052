using Federated.Core.Adapters;

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

    static string Describe(List<string> names) =>
        names.Count <= 3 ? string.Join(", ", names.Select(n => $"'{n}'")) : $"'{names[0]}' and {names.Count - 1} more";
}
