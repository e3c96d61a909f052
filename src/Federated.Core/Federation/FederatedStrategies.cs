namespace Federated.Core.Federation;

/// <summary>The strategies by name, as the CLI and federation configs spell them.</summary>
public static class FederatedStrategies
{
    public static readonly IReadOnlyList<FederatedStrategy> All =
        [new FloraStrategy(), new FedItStrategy(), new FfaStrategy(), new FlexLoraStrategy(), new HetLoraStrategy(normWeighted: true), new HetLoraStrategy(normWeighted: false)];

    public static IReadOnlyList<string> Names { get; } = All.Select(s => s.Name).ToList();

    public static bool TryGet(string name, out FederatedStrategy strategy)
    {
        strategy = All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))!;
        return strategy is not null;
    }

    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static FederatedStrategy Get(string name) => TryGet(name, out var s) ? s
        : throw new ArgumentException($"unknown strategy '{name}' (expected one of: {string.Join(", ", Names)})");
}
