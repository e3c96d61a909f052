namespace Federated.Core.Adapters;

/// <summary>Module names as refusals list them: up to three quoted, else the first and how many more.</summary>
static class ModuleNames
{
    /// <returns>"" when <paramref name="names"/> is empty, else e.g. "missing 'a', 'b'" or "extra 'a' and 7 more".</returns>
    public static string Describe(string what, IReadOnlyList<string> names) => names.Count switch
    {
        0 => "",
        <= 3 => $"{what} {string.Join(", ", names.Select(n => $"'{n}'"))}",
        _ => $"{what} '{names[0]}' and {names.Count - 1} more",
    };
}
