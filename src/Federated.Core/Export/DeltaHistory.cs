using Federated.Core.Adapters;

namespace Federated.Core.Export;

/// <summary>
/// A federation's merged deltas lined up per module: each module with the deltas that touch it, in history order.
/// Unlike one round's updates (<see cref="Aggregation.ModuleAlignment"/>), rounds may adapt different module sets.
/// </summary>
static class DeltaHistory
{
    /// <summary>Every module in order of first appearance, with its factors from each delta that has it.</summary>
    public static IReadOnlyList<LoraModule[]> Columns(IReadOnlyList<LoraAdapter> deltas)
    {
        if (deltas.Count == 0)
            throw new ArgumentException("the history holds no deltas", nameof(deltas));
        var columns = new Dictionary<string, List<LoraModule>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int k = 0; k < deltas.Count; k++)
            foreach (var m in deltas[k].Modules)
            {
                if (!columns.TryGetValue(m.Name, out var column))
                {
                    columns[m.Name] = column = [];
                    order.Add(m.Name);
                }
                else if (column[0].InFeatures != m.InFeatures || column[0].OutFeatures != m.OutFeatures)
                    throw new IncompatibleAdaptersException(
                        $"module '{m.Name}': delta {k} is {m.OutFeatures}x{m.InFeatures} but an earlier delta is {column[0].OutFeatures}x{column[0].InFeatures}");
                column.Add(m);
            }
        return order.Select(name => columns[name].ToArray()).ToList();
    }
}
