namespace Federated.Core.Export;

/// <summary>
/// The values vLLM accepts for <c>max_lora_rank</c>: an adapter of rank r is served by the smallest one at least r,
/// so an export at a rank between two of them costs the larger one's GPU memory anyway.
/// </summary>
public static class VllmRanks
{
    public static IReadOnlyList<int> Allowed { get; } = [1, 8, 16, 32, 64, 128, 256, 320, 512];

    public static int Largest => Allowed[^1];

    /// <summary>The smallest allowed value at least <paramref name="rank"/>, or null when the rank is over <see cref="Largest"/>.</summary>
    public static int? AtLeast(int rank) => Allowed.Cast<int?>().FirstOrDefault(v => v >= rank);
}
